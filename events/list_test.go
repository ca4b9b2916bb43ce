package events

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/internal/testbed"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

// The listing agrees with virsh on the real libvirtd: which domains
// exist, run, are paused or shut off, and are transient.
func TestListMatchesVirsh(t *testing.T) {
	guests := testbed.Guests(t, "vadv-ls", 2)
	testbed.Virsh(t, "suspend", guests[1])
	t.Cleanup(func() { testbed.Virsh(t, "resume", guests[1]) })

	s := NewSubscriber(testbed.Conn(t, testbed.SystemURI), nil, slog.New(slog.DiscardHandler))
	known, err := s.list(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	uuids := func(args ...string) string {
		out := testbed.Virsh(t, append([]string{"list", "--uuid"}, args...)...)
		f := strings.Fields(out)
		sort.Strings(f)
		return strings.Join(f, " ")
	}
	ours := func(keep func(domainState) bool) string {
		var f []string
		for u, d := range known {
			if keep(d) {
				f = append(f, formatUUID(u))
			}
		}
		sort.Strings(f)
		return strings.Join(f, " ")
	}
	for _, c := range []struct {
		virsh []string
		keep  func(domainState) bool
	}{
		{[]string{"--all"}, func(domainState) bool { return true }},
		{[]string{"--state-running"}, func(d domainState) bool { return d.state == libvirt.DomainRunning && d.active() }},
		{[]string{"--state-paused"}, func(d domainState) bool { return d.state == libvirt.DomainPaused && d.active() }},
		{[]string{"--state-shutoff"}, func(d domainState) bool { return d.state == libvirt.DomainShutoff && !d.active() }},
		{[]string{"--all", "--transient"}, func(d domainState) bool { return !d.persistent }},
	} {
		if want, got := uuids(c.virsh...), ours(c.keep); got != want {
			t.Errorf("virsh list %s: %s\nthe listing: %s", strings.Join(c.virsh, " "), want, got)
		}
	}
}

// A domain starting up or migrating in is paused until its events come:
// it is taken as known holds it, or as not started yet.
func TestStartingDomainsAsBeforeTheirStart(t *testing.T) {
	for _, c := range []struct {
		state  libvirt.DomainState
		reason int32
		want   bool
	}{
		{libvirt.DomainPaused, int32(libvirt.DomainPausedStartingUp), true},
		{libvirt.DomainPaused, int32(libvirt.DomainPausedMigration), true},
		{libvirt.DomainPaused, int32(libvirt.DomainPausedUser), false},
		{libvirt.DomainPaused, int32(libvirt.DomainPausedIoerror), false},
		{libvirt.DomainRunning, int32(libvirt.DomainRunningMigrated), false},
	} {
		if got := starting(c.state, c.reason); got != c.want {
			t.Errorf("starting(%d, %d) = %v", c.state, c.reason, got)
		}
	}
	paused := domainState{name: "vm", id: 7, state: libvirt.DomainPaused, persistent: true}
	running := domainState{name: "vm", id: 7, state: libvirt.DomainRunning, persistent: false}
	if got := beforeStart(paused, running, true); got != running {
		t.Errorf("migrating in after its Started event: %v, want %v", got, running)
	}
	if got, want := beforeStart(paused, domainState{}, false), (domainState{name: "vm", id: -1, state: libvirt.DomainShutoff, persistent: true}); got != want {
		t.Errorf("starting up, unknown: %v, want %v", got, want)
	}
	// Taken so, a start that outlasts two checks records nothing.
	store, err := NewStore(time.Hour, 10)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSubscriber(nil, store, slog.New(slog.DiscardHandler))
	off := domainState{name: "vm", id: -1, state: libvirt.DomainShutoff, persistent: true}
	known := map[libvirt.UUID]domainState{{1}: off}
	var differing map[libvirt.UUID]listed
	for range 3 {
		current := map[libvirt.UUID]domainState{{1}: beforeStart(paused, known[libvirt.UUID{1}], true)}
		differing = s.check(known, current, differing)
	}
	if n := len(store.Query(Query{Types: AllTypes})); n != 0 || len(differing) != 0 {
		t.Errorf("a long start recorded %d events, left %v differing", n, differing)
	}
}

// With every normal worker of libvirtd waiting on a hung guest, the state
// check still gets its listing: it makes only calls that libvirtd answers
// on its high-priority workers (the state stats group, for one, is not).
func TestListWhileLibvirtdWorkersHang(t *testing.T) {
	testbed.Exclusive(t)
	name := testbed.Guests(t, "vadv-ls", 1)[0]
	raw, err := os.ReadFile("/run/libvirt/qemu/" + name + ".pid")
	if err != nil {
		t.Fatal(err)
	}
	qemu := strings.TrimSpace(string(raw))
	if err := exec.Command("kill", "-STOP", qemu).Run(); err != nil {
		t.Fatal(err)
	}
	// More monitor commands than libvirtd has workers (20 by default): one
	// hangs on the monitor, the others wait 30 s for its job.
	var hogs []*exec.Cmd
	t.Cleanup(func() {
		exec.Command("kill", "-CONT", qemu).Run()
		for _, c := range hogs {
			c.Process.Kill()
			c.Wait()
		}
	})
	for range 25 {
		c := exec.Command("virsh", "-c", testbed.SystemURI, "qemu-monitor-command", name, "--hmp", "info status")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		hogs = append(hogs, c)
	}
	probe := testbed.Conn(t, testbed.SystemURI)
	exhausted := false
	for range 5 {
		time.Sleep(time.Second)
		_, err := libvirtconn.DoWithin(context.Background(), probe, 2*time.Second, func(l *libvirt.Libvirt) ([]libvirt.DomainStatsRecord, error) {
			return l.ConnectGetAllDomainStats(nil, uint32(libvirt.DomainStatsState), 0)
		})
		if exhausted = errors.Is(err, libvirtconn.ErrTimeout); exhausted {
			break
		}
	}
	if !exhausted {
		t.Fatal("25 hung monitor commands did not take up libvirtd's normal workers")
	}

	s := NewSubscriber(testbed.Conn(t, testbed.SystemURI), nil, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	known, err := s.list(ctx, nil)
	if err != nil {
		t.Fatalf("listing with libvirtd's workers taken: %v", err)
	}
	found := false
	for _, d := range known {
		found = found || (d.name == name && d.active() && d.state == libvirt.DomainRunning)
	}
	if !found {
		t.Errorf("%s not listed as running: %v", name, known)
	}
}
