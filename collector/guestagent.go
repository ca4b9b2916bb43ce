package collector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/guestagent"
	"github.com/vadvisor/vadvisor/internal/durationflag"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

// guestAgentName is the sub-collector's name, and so its flag's.
const guestAgentName = "guest-agent"

func init() {
	registerCollector(factory{
		name:  guestAgentName,
		help:  "what each guest's agent reports: filesystems, OS, host name, users (a read-write connection of its own, refreshed in the background; see --collector.guest-agent.*)",
		build: newGuestAgentCollector,
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

// guestAgentFlags are the sub-collector's own flags, checked whether it
// is on or not.
type guestAgentFlags struct {
	uri               *string
	interval, timeout *time.Duration
}

func addGuestAgentFlags(app *kingpin.Application) guestAgentFlags {
	return guestAgentFlags{
		uri:      app.Flag("collector.guest-agent.libvirt-uri", "libvirt URI of the guest-agent collector's own connection, which must be read-write: libvirt answers guest-agent calls on no other. A local URI without socket= uses the read-only socket, so the default names the read-write one.").Default("qemu:///system?socket=" + libvirtconn.ReadWriteSocket).String(),
		interval: durationflag.Add(app, "collector.guest-agent.interval", "How often the guest-agent collector asks every running guest's agent, in the background; a scrape reads the last answers.", "60s"),
		timeout:  durationflag.Add(app, "collector.guest-agent.timeout", "Upper bound of one call to a guest's agent.", "10s"),
	}
}

// check checks the flags, whether the sub-collector is on or not.
func (f guestAgentFlags) check() error {
	if _, _, err := libvirtconn.ParseURI(*f.uri); err != nil {
		return fmt.Errorf("--collector.guest-agent.libvirt-uri: %w", err)
	}
	return guestagent.CheckFlags(*f.interval, *f.timeout)
}

// guestAgents is what the sub-collector reads: *guestagent.Agents.
type guestAgents interface {
	Results() (map[libvirt.UUID]guestagent.Info, error)
	Run(ctx context.Context)
}

// guestAgentCollector exports what the agents answered at their last
// refresh, which it runs in the background over a connection of its own.
type guestAgentCollector struct {
	agents guestAgents
	conn   *libvirtconn.Conn // the agents'
}

// newGuestAgentCollector gives the agents a connection of their own, to
// the domains the collector's connection watches.
func newGuestAgentCollector(d deps) (subCollector, error) {
	f := d.flags.guestAgent
	conn, err := d.conn.Sibling(*f.uri, d.root.With("component", "libvirt-guest-agent"))
	if err != nil {
		return nil, err
	}
	agents, err := guestagent.New(conn, *f.interval, *f.timeout, d.root.With("component", "guest-agent"))
	if err != nil {
		return nil, err
	}
	return &guestAgentCollector{agents: agents, conn: conn}, nil
}

// run asks the agents, every interval, until ctx ends.
func (g *guestAgentCollector) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { g.conn.Run(ctx) })
	g.agents.Run(ctx)
	wg.Wait()
}

// update exports the last refresh's answers for the domains of this
// scrape's reading that run: a domain stopped since is left out, one
// started since waits for the next refresh.
func (g *guestAgentCollector) update(s *scrape) error {
	results, refreshErr := g.agents.Results()
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
