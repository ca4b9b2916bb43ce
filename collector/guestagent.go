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

const guestSubsystem = "domain_guest"

var (
	guestAgentUp = gauge(guestSubsystem, "agent_up",
		"Whether the guest agent answered at the last refresh (1) or not (0), for a running domain.", "domain")
	guestInfo = gauge(guestSubsystem, "info",
		"The guest's operating system and host name as its agent reports them; always 1.",
		"domain", "os_id", "os_version_id", "kernel_release", "hostname")
	guestUsers = gauge(guestSubsystem, "users",
		"Users logged in to the guest.", "domain")
	guestFilesystemLabels = []string{"domain", "mountpoint", "fstype", "device"}
	guestFilesystemSize   = gauge(guestSubsystem, "filesystem_size_bytes",
		"Size of a filesystem mounted in the guest.", guestFilesystemLabels...)
	guestFilesystemUsed = gauge(guestSubsystem, "filesystem_used_bytes",
		"Bytes used on a filesystem mounted in the guest.", guestFilesystemLabels...)
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
		guestUsers.send(s.ch, info.Users, 1, d.Name)
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
			guestFilesystemSize.send(s.ch, fs.Size, 1, d.Name, fs.Mountpoint, fs.Type, fs.Device)
			guestFilesystemUsed.send(s.ch, fs.Used, 1, d.Name, fs.Mountpoint, fs.Type, fs.Device)
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
