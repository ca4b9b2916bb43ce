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

	"github.com/vadvisor/vadvisor/internal/libvirtval"
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
				f = append(f, libvirtval.UUIDString(u))
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

// A domain in a passing state is taken as the events left it: starting up
// or migrating in, it has not started (or is as its Started event said);
// shutting down, it keeps the state the events gave its run.
func TestCurrentStateOfPassingStates(t *testing.T) {
	off := domainState{name: "vm", id: -1, state: libvirt.DomainShutoff, persistent: true}
	run := func(id int32, state libvirt.DomainState) domainState {
		return domainState{name: "vm", id: id, state: state, persistent: true}
	}
	startingUp, migrating := int32(libvirt.DomainPausedStartingUp), int32(libvirt.DomainPausedMigration)
	for _, c := range []struct {
		what   string
		state  libvirt.DomainState
		reason int32
		k      domainState
		had    bool
		want   domainState
	}{
		{"starting up, unknown", libvirt.DomainPaused, startingUp, domainState{}, false, off},
		{"starting up, known off", libvirt.DomainPaused, startingUp, off, true, off},
		{"starting up, known as an older run", libvirt.DomainPaused, startingUp, run(6, libvirt.DomainRunning), true, off},
		{"migrating in after Started", libvirt.DomainPaused, migrating, run(7, libvirt.DomainRunning), true, run(7, libvirt.DomainRunning)},
		{"paused by the user", libvirt.DomainPaused, int32(libvirt.DomainPausedUser), off, true, run(7, libvirt.DomainPaused)},
		{"paused guest shutting down", libvirt.DomainShutdown, 1, run(7, libvirt.DomainPaused), true, run(7, libvirt.DomainPaused)},
		{"hibernated guest shutting down", libvirt.DomainShutdown, 1, run(7, libvirt.DomainPmsuspended), true, run(7, libvirt.DomainPmsuspended)},
		{"shutting down, another run known", libvirt.DomainShutdown, 1, run(6, libvirt.DomainPaused), true, run(7, libvirt.DomainRunning)},
		{"crashed", libvirt.DomainCrashed, 1, run(7, libvirt.DomainRunning), true, run(7, libvirt.DomainCrashed)},
	} {
		if got := currentState(run(7, libvirt.DomainRunning), c.state, c.reason, c.k, c.had); got != c.want {
			t.Errorf("%s: %v, want %v", c.what, got, c.want)
		}
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
	t.Cleanup(func() { _ = exec.Command("kill", "-CONT", qemu).Run() })
	for range 25 {
		testbed.StartVirsh(t, "qemu-monitor-command", name, "--hmp", "info status")
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
