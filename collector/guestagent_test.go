package collector

import (
	"context"
	"errors"
	"testing"

	"github.com/digitalocean/go-libvirt"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/guestagent"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
)

// cannedAgents are the results of a refresh that never happened.
type cannedAgents struct {
	results map[libvirt.UUID]guestagent.Info
	err     error
}

func (a cannedAgents) Results() (map[libvirt.UUID]guestagent.Info, error) { return a.results, a.err }
func (a cannedAgents) Run(context.Context)                                {}

// scrapeAgents runs the guest-agent sub-collector over a reading of three
// domains (a1 and a2 running, off shut off) and the given agents.
func scrapeAgents(t *testing.T, agents guestAgents) (series, error) {
	t.Helper()
	reading := &domstats.Reading{Domains: []domstats.Domain{
		domstats.Decode(record("a1", 1, 1, "state.state=1")),
		domstats.Decode(record("a2", 2, 2, "state.state=1")),
		domstats.Decode(record("off", 3, -1, "state.state=5")),
	}}
	var updateErr error
	c := &agentCollector{sub: &guestAgentCollector{agents: agents}, s: scrape{reading: reading}, err: &updateErr}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	return seriesOf(families), updateErr
}

type agentCollector struct {
	sub *guestAgentCollector
	s   scrape
	err *error
}

func (c *agentCollector) Describe(chan<- *prometheus.Desc) {}
func (c *agentCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	s.ch = ch
	*c.err = c.sub.update(&s)
}

func uuidOf(b byte) libvirt.UUID {
	var u libvirt.UUID
	u[15] = b
	return u
}

func TestGuestAgentSeries(t *testing.T) {
	fs := func(mount, dev string, size uint64) guestagent.Filesystem {
		return guestagent.Filesystem{Mountpoint: mount, Device: dev, Type: "ext4",
			Size: libvirtval.Value{V: size, OK: true}, Used: libvirtval.Value{V: size / 4, OK: true}}
	}
	agents := cannedAgents{results: map[libvirt.UUID]guestagent.Info{
		uuidOf(1): {Name: "a1", UUID: uuidOf(1), OSID: "debian", OSVersionID: "12", KernelRelease: "6.1.0", Hostname: "h1",
			Users: libvirtval.Value{V: 2, OK: true},
			// The same mount twice (an overmount) must not fail the scrape.
			Filesystems: []guestagent.Filesystem{fs("/", "vda1", 4096), fs("/boot", "vda2", 1024), fs("/", "vda1", 8192)}},
		uuidOf(2): {Name: "a2", UUID: uuidOf(2), Err: errors.New("agent not responding")},
		// Shut off since the refresh: nothing of it may show.
		uuidOf(3): {Name: "off", UUID: uuidOf(3), Hostname: "stale"},
	}}
	s, err := scrapeAgents(t, agents)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]float64{
		"libvirt_domain_guest_agent_up": {"domain=a1": 1, "domain=a2": 0},
		"libvirt_domain_guest_info":     {"domain=a1,hostname=h1,kernel_release=6.1.0,os_id=debian,os_version_id=12": 1},
		"libvirt_domain_guest_users":    {"domain=a1": 2},
		"libvirt_domain_guest_filesystem_size_bytes": {
			"device=vda1,domain=a1,fstype=ext4,mountpoint=/":     4096,
			"device=vda2,domain=a1,fstype=ext4,mountpoint=/boot": 1024,
		},
		"libvirt_domain_guest_filesystem_used_bytes": {
			"device=vda1,domain=a1,fstype=ext4,mountpoint=/":     1024,
			"device=vda2,domain=a1,fstype=ext4,mountpoint=/boot": 256,
		},
	}
	for name, w := range want {
		if len(s[name]) != len(w) {
			t.Errorf("%s: got %v, want %v", name, s[name], w)
			continue
		}
		for key, v := range w {
			if s[name][key] != v {
				t.Errorf("%s{%s} = %v, want %v (all: %v)", name, key, s[name][key], v, s[name])
			}
		}
	}
	if len(s) != len(want) {
		t.Errorf("families %d, want %d: %v", len(s), len(want), s)
	}
}

func TestGuestAgentBeforeAndAfterFailedRefresh(t *testing.T) {
	s, err := scrapeAgents(t, cannedAgents{err: guestagent.ErrNotYet})
	if err != nil || len(s) != 0 {
		t.Errorf("before the first refresh: %v, %v; want nothing and no error", s, err)
	}
	refreshErr := errors.New("cannot list domains")
	s, err = scrapeAgents(t, cannedAgents{err: refreshErr})
	if !errors.Is(err, refreshErr) {
		t.Errorf("after a failed refresh the collector returned %v, want it to wrap %v", err, refreshErr)
	}
	if up := s["libvirt_domain_guest_agent_up"]; len(up) != 2 || up["domain=a1"] != 0 || up["domain=a2"] != 0 {
		t.Errorf("after a failed refresh: agent_up %v, want 0 for both running domains", up)
	}
	// A domain started since the last refresh waits for the next one.
	s, err = scrapeAgents(t, cannedAgents{results: map[libvirt.UUID]guestagent.Info{}})
	if err != nil || len(s) != 0 {
		t.Errorf("no answers yet for the running domains: %v, %v; want nothing", s, err)
	}
}
