package events

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"testing"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/internal/testbed"
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
// it is listed as known holds it, or as not started yet.
func TestStatesKeepStartingDomains(t *testing.T) {
	rec := func(uuid byte, name string, id int32, state libvirt.DomainState, reason int32) libvirt.DomainStatsRecord {
		return libvirt.DomainStatsRecord{
			Dom: libvirt.Domain{Name: name, UUID: libvirt.UUID{uuid}, ID: id},
			Params: []libvirt.TypedParam{
				{Field: "state.state", Value: *libvirt.NewTypedParamValueInt(int32(state))},
				{Field: "state.reason", Value: *libvirt.NewTypedParamValueInt(reason)},
			},
		}
	}
	running := domainState{name: "migrating", id: 9, state: libvirt.DomainRunning, persistent: false}
	known := map[libvirt.UUID]domainState{{4}: running}
	got := states([]libvirt.DomainStatsRecord{
		rec(1, "starting", 7, libvirt.DomainPaused, int32(libvirt.DomainPausedStartingUp)),
		rec(2, "paused", 8, libvirt.DomainPaused, int32(libvirt.DomainPausedUser)),
		rec(3, "off", -1, libvirt.DomainShutoff, int32(libvirt.DomainShutoffDestroyed)),
		rec(4, "migrating", 9, libvirt.DomainPaused, int32(libvirt.DomainPausedMigration)),
		rec(5, "shutting-down", 10, libvirt.DomainShutdown, 1),
		rec(6, "crashed", 11, libvirt.DomainCrashed, 1),
	}, []libvirt.Domain{{UUID: libvirt.UUID{4}}}, known)
	want := map[libvirt.UUID]domainState{
		{1}: {name: "starting", id: -1, state: libvirt.DomainShutoff, persistent: true},
		{2}: {name: "paused", id: 8, state: libvirt.DomainPaused, persistent: true},
		{3}: {name: "off", id: -1, state: libvirt.DomainShutoff, persistent: true},
		{4}: running,
		{5}: {name: "shutting-down", id: 10, state: libvirt.DomainRunning, persistent: true},
		{6}: {name: "crashed", id: 11, state: libvirt.DomainCrashed, persistent: true},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("states:\n%v\nwant\n%v", got, want)
	}
}
