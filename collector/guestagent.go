package collector

import (
	"errors"
	"fmt"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/guestagent"
)

// guestAgentName is the sub-collector's name, and so its flag's.
const guestAgentName = "guest-agent"

func init() {
	register(subCollector{
		name:   guestAgentName,
		help:   "what each guest's agent reports: filesystems, OS, host name, users (a read-write connection of its own, refreshed in the background; see --collector.guest-agent.*)",
		update: updateGuestAgent,
	})
}

// guestFamilies are this file's: libvirt_domain_guest_*.
var guestFamilies = group{namespace: namespace, subsystem: "domain_guest", collector: guestAgentName}

// guestFilesystem names a field of a filesystem of the guest as libvirt
// does: fs.<n>.used-bytes.
func guestFilesystem(suffix string) string { return libvirt.DomainGuestInfoFsPrefix + "<n>" + suffix }

var (
	guestAgentUp = guestFamilies.gauge("agent_up",
		"Whether the guest agent answered at the last refresh (1) or not (0), for a running domain.", "domain").
		from(domstats.Count, "virDomainGetGuestInfo")
	guestInfo = guestFamilies.gauge("info",
		"The guest's operating system and host name as its agent reports them; always 1.",
		"domain", "os_id", "os_version_id", "kernel_release", "hostname").
		from(domstats.Count, libvirt.DomainGuestInfoOsID, libvirt.DomainGuestInfoOsVersionID,
			libvirt.DomainGuestInfoOsKernelRelease, libvirt.DomainGuestInfoHostnameHostname)
	guestUsers = guestFamilies.gauge("users",
		"Users logged in to the guest.", "domain").
		from(domstats.Count, libvirt.DomainGuestInfoUserCount)
	guestFilesystemLabels = []string{"domain", "mountpoint", "fstype", "device"}
	guestFilesystemSize   = guestFamilies.gauge("filesystem_size_bytes",
		"Size of a filesystem mounted in the guest.", guestFilesystemLabels...).
		from(domstats.Count, guestFilesystem(libvirt.DomainGuestInfoFsSuffixTotalBytes))
	guestFilesystemUsed = guestFamilies.gauge("filesystem_used_bytes",
		"Bytes used on a filesystem mounted in the guest.", guestFilesystemLabels...).
		from(domstats.Count, guestFilesystem(libvirt.DomainGuestInfoFsSuffixUsedBytes))
)

// guestAgents is what the sub-collector reads: *guestagent.Agents.
type guestAgents interface {
	Results() (map[libvirt.UUID]guestagent.Info, error)
}

// WithGuestAgents gives the guest-agent sub-collector the agents it
// reads; without them it fails.
func (c *Collector) WithGuestAgents(a *guestagent.Agents) { c.agents = a }

// updateGuestAgent exports the last refresh's answers for the domains of
// this scrape's reading that run: a domain stopped since is left out, one
// started since waits for the next refresh.
func updateGuestAgent(s *scrape) error {
	if s.c.agents == nil {
		return errors.New("no guest agents to read")
	}
	results, refreshErr := s.c.agents.Results()
	if errors.Is(refreshErr, guestagent.ErrNotYet) {
		return nil
	}
	err := activeDomains(s, func(d *domstats.Domain) {
		info, ok := results[d.UUID]
		if refreshErr == nil && !ok {
			return
		}
		if refreshErr != nil || info.Err != nil {
			guestAgentUp.sendFloat(s.ch, 0, d.Name)
			return
		}
		guestAgentUp.sendFloat(s.ch, 1, d.Name)
		guestInfo.sendFloat(s.ch, 1, d.Name, info.OSID, info.OSVersionID, info.KernelRelease, info.Hostname)
		guestUsers.send(s.ch, info.Users, d.Name)
		seen := make(map[[3]string]bool, len(info.Filesystems))
		for _, fs := range info.Filesystems {
			// Two entries with one label set (the same device mounted
			// twice at one place) would fail the whole scrape: the first
			// counts.
			key := [3]string{fs.Mountpoint, fs.Type, fs.Device}
			if seen[key] {
				continue
			}
			seen[key] = true
			guestFilesystemSize.send(s.ch, fs.Size, d.Name, fs.Mountpoint, fs.Type, fs.Device)
			guestFilesystemUsed.send(s.ch, fs.Used, d.Name, fs.Mountpoint, fs.Type, fs.Device)
		}
	})
	if err != nil {
		return err
	}
	if refreshErr != nil {
		return fmt.Errorf("the last refresh of the guest agents failed: %w", refreshErr)
	}
	return nil
}
