package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"
)

// offlineSubscriber records into a store of its own, with no libvirt.
func offlineSubscriber(t *testing.T) (*Subscriber, *Store) {
	t.Helper()
	store, err := NewStore(time.Hour, 100)
	if err != nil {
		t.Fatal(err)
	}
	return NewSubscriber(nil, store, slog.New(slog.DiscardHandler)), store
}

// recorded lists the stored events from the from-th on, as
// "domain type reconciled=bool".
func recorded(store *Store, from int) []string {
	var got []string
	for _, e := range store.Query(Query{Types: AllTypes})[from:] {
		got = append(got, fmt.Sprintf("%s %s reconciled=%v", e.DomainName, e.Type, e.Reconciled()))
	}
	return got
}

func TestEventsBetweenStates(t *testing.T) {
	running := domainState{name: "vm", id: 3, state: libvirt.DomainRunning, persistent: true}
	paused := running
	paused.state = libvirt.DomainPaused
	off := domainState{name: "vm", id: -1, state: libvirt.DomainShutoff, persistent: true}
	restarted := running
	restarted.id = 4
	transient := running
	transient.persistent = false
	crashed := off
	crashed.state = libvirt.DomainCrashed
	cases := []struct {
		name      string
		b         domainState
		had       bool
		a         domainState
		has       bool
		wantTypes []Type
	}{
		{"unchanged", running, true, running, true, nil},
		{"destroyed", running, true, off, true, []Type{Stopped}},
		{"killed and undefined", running, true, off, false, []Type{Stopped, Undefined}},
		{"undefined while off", off, true, off, false, []Type{Undefined}},
		{"transient one gone", transient, true, off, false, []Type{Stopped}},
		{"defined", off, false, off, true, []Type{Defined}},
		{"defined and started paused", off, false, paused, true, []Type{Defined, Started, Suspended}},
		{"transient one created", off, false, transient, true, []Type{Started}},
		{"started", off, true, running, true, []Type{Started}},
		{"restarted", running, true, restarted, true, []Type{Stopped, Started}},
		{"paused", running, true, paused, true, []Type{Suspended}},
		{"resumed", paused, true, running, true, []Type{Resumed}},
		{"paused then destroyed", paused, true, off, true, []Type{Stopped}},
		{"crashed", running, true, crashed, true, []Type{Crashed, Stopped}},
	}
	for _, tc := range cases {
		got := eventsBetween(tc.b, tc.had, tc.a, tc.has)
		if fmt.Sprint(got) != fmt.Sprint(tc.wantTypes) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.wantTypes)
		}
	}
}

// The state kept from events matches what a listing would show, so that
// the next reconcile only reports real gap changes.
func TestApplyFollowsEvents(t *testing.T) {
	dom := libvirt.Domain{Name: "vm", UUID: libvirt.UUID{1}, ID: 7}
	known := map[libvirt.UUID]domainState{}
	steps := []struct {
		t    Type
		want string
	}{
		{Defined, "{vm -1 5 true}"},
		{Started, "{vm 7 1 true}"},
		{Suspended, "{vm 7 3 true}"},
		{Resumed, "{vm 7 1 true}"},
		{Stopped, "{vm -1 5 true}"},
		{Undefined, "{}"},
		{Started, "{vm 7 1 false}"}, // a transient domain
		{Stopped, "{}"},
	}
	for _, s := range steps {
		apply(known, libvirt.DomainEventLifecycleMsg{Dom: dom, Event: int32(s.t)})
		if got := fmt.Sprint(known[dom.UUID]); got != s.want && !(s.want == "{}" && len(known) == 0) {
			t.Errorf("after %s: %s, want %s", s.t, got, s.want)
		}
	}
}

// A change made between subscribing and the listing is both in the listing
// and queued as a live event: it is recorded once, live, after the
// reconciled changes it follows.
func TestResubscribeRecordsQueuedChangesOnce(t *testing.T) {
	s, store := offlineSubscriber(t)
	x := libvirt.Domain{Name: "x", UUID: libvirt.UUID{1}, ID: 4}
	y := libvirt.Domain{Name: "y", UUID: libvirt.UUID{2}, ID: 5}
	before := map[libvirt.UUID]domainState{
		x.UUID: {name: "x", id: 3, state: libvirt.DomainRunning, persistent: true},
	}
	// In the gap x was stopped (missed) and started again (queued), and y
	// was defined (missed), started and paused (both queued).
	listing := map[libvirt.UUID]domainState{
		x.UUID: {name: "x", id: 4, state: libvirt.DomainRunning, persistent: true},
		y.UUID: {name: "y", id: 5, state: libvirt.DomainPaused, persistent: true},
	}
	ch := make(chan libvirt.DomainEventLifecycleMsg, 3)
	ch <- libvirt.DomainEventLifecycleMsg{Dom: x, Event: int32(Started), Detail: 0}
	ch <- libvirt.DomainEventLifecycleMsg{Dom: y, Event: int32(Started), Detail: 0}
	ch <- libvirt.DomainEventLifecycleMsg{Dom: y, Event: int32(Suspended), Detail: 0}
	queued := takeQueued(ch)
	s.reconcile(before, listing, queued)
	for _, msg := range queued {
		s.record(msg, listing)
	}
	got := recorded(store, 0)
	want := []string{
		"x Stopped reconciled=true",
		"y Defined reconciled=true",
		"x Started reconciled=false",
		"y Started reconciled=false",
		"y Suspended reconciled=false",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("recorded\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if fmt.Sprint(listing[y.UUID]) != "{y 5 3 true}" || fmt.Sprint(listing[x.UUID]) != "{x 4 1 true}" {
		t.Errorf("state after the queued events: %v", listing)
	}
}

// A domain that differs from the state kept from events in two listings
// in a row missed its events: its changes are recorded once, reconciled.
// One that differs in a single listing had an event on its way.
func TestCheckRecordsSilentChangesOnce(t *testing.T) {
	s, store := offlineSubscriber(t)
	x := libvirt.Domain{Name: "x", UUID: libvirt.UUID{1}, ID: 3}
	running := domainState{name: "x", id: 3, state: libvirt.DomainRunning, persistent: true}
	off := domainState{name: "x", id: -1, state: libvirt.DomainShutoff, persistent: true}
	y := domainState{name: "y", id: 5, state: libvirt.DomainRunning, persistent: true}
	z := domainState{name: "z", id: -1, state: libvirt.DomainShutoff, persistent: true}
	yID, zID := libvirt.UUID{2}, libvirt.UUID{3}
	known := map[libvirt.UUID]domainState{x.UUID: running, yID: y}

	var differing map[libvirt.UUID]listed
	steps := []struct {
		what    string
		listing map[libvirt.UUID]domainState
		event   *libvirt.DomainEventLifecycleMsg // arrives after the listing
		want    []string                         // recorded by this step
	}{
		{"x stopped, its event late; y killed silently; z defined silently",
			map[libvirt.UUID]domainState{x.UUID: off, yID: {name: "y", id: -1, state: libvirt.DomainShutoff, persistent: true}, zID: z},
			&libvirt.DomainEventLifecycleMsg{Dom: x, Event: int32(Stopped)},
			[]string{"x Stopped reconciled=false"}},
		{"the same listing again",
			map[libvirt.UUID]domainState{x.UUID: off, yID: {name: "y", id: -1, state: libvirt.DomainShutoff, persistent: true}, zID: z},
			nil,
			[]string{"y Stopped reconciled=true", "z Defined reconciled=true"}},
		{"nothing new",
			map[libvirt.UUID]domainState{x.UUID: off, yID: {name: "y", id: -1, state: libvirt.DomainShutoff, persistent: true}, zID: z},
			nil, nil},
		{"z undefined, once",
			map[libvirt.UUID]domainState{x.UUID: off, yID: {name: "y", id: -1, state: libvirt.DomainShutoff, persistent: true}},
			nil, nil},
		{"z back before the next listing",
			map[libvirt.UUID]domainState{x.UUID: off, yID: {name: "y", id: -1, state: libvirt.DomainShutoff, persistent: true}, zID: z},
			nil, nil},
		{"z undefined silently",
			map[libvirt.UUID]domainState{x.UUID: off, yID: {name: "y", id: -1, state: libvirt.DomainShutoff, persistent: true}},
			nil, nil},
		{"and still gone",
			map[libvirt.UUID]domainState{x.UUID: off, yID: {name: "y", id: -1, state: libvirt.DomainShutoff, persistent: true}},
			nil, []string{"z Undefined reconciled=true"}},
	}
	seen := 0
	for _, step := range steps {
		differing = s.check(known, step.listing, differing)
		if step.event != nil {
			s.record(*step.event, known)
		}
		got := recorded(store, seen)
		seen += len(got)
		if fmt.Sprint(got) != fmt.Sprint(step.want) {
			t.Errorf("%s: recorded %q, want %q", step.what, got, step.want)
		}
	}
	want := map[libvirt.UUID]domainState{x.UUID: off, yID: {name: "y", id: -1, state: libvirt.DomainShutoff, persistent: true}}
	if fmt.Sprint(known) != fmt.Sprint(want) {
		t.Errorf("known at the end: %v, want %v", known, want)
	}
}

// followScript runs follow over a scripted sequence of listings. Each
// step's events reach the subscription just as its listing is made, that
// is after it: they are on their way while that check runs.
func followScript(t *testing.T, known map[libvirt.UUID]domainState, steps []scriptStep) []string {
	t.Helper()
	s, store := offlineSubscriber(t)
	s.checkEvery = time.Millisecond
	ch := make(chan libvirt.DomainEventLifecycleMsg, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	s.listing = func(context.Context, map[libvirt.UUID]domainState) (map[libvirt.UUID]domainState, error) {
		if n == len(steps) {
			cancel()
			return nil, ctx.Err()
		}
		step := steps[n]
		n++
		for _, msg := range step.after {
			ch <- msg
		}
		listing := make(map[libvirt.UUID]domainState, len(step.listing))
		maps.Copy(listing, step.listing)
		return listing, nil
	}
	s.follow(ctx, ch, known)
	return recorded(store, 0)
}

type scriptStep struct {
	listing map[libvirt.UUID]domainState
	after   []libvirt.DomainEventLifecycleMsg
}

// An event of a domain between two listings that agree with each other
// means the second one shows a change still on its way, not a missed one.
func TestFollowWaitsForEventsBetweenListings(t *testing.T) {
	x := libvirt.Domain{Name: "x", UUID: libvirt.UUID{1}, ID: 5}
	running := domainState{name: "x", id: 5, state: libvirt.DomainRunning, persistent: true}
	off := map[libvirt.UUID]domainState{x.UUID: {name: "x", id: -1, state: libvirt.DomainShutoff, persistent: true}}
	// Paused, then destroyed: each listing comes before the event.
	got := followScript(t, map[libvirt.UUID]domainState{x.UUID: running}, []scriptStep{
		{off, []libvirt.DomainEventLifecycleMsg{{Dom: x, Event: int32(Suspended)}}},
		{off, []libvirt.DomainEventLifecycleMsg{{Dom: x, Event: int32(Stopped)}}},
		{off, nil},
		{off, nil},
	})
	if want := []string{"x Suspended reconciled=false", "x Stopped reconciled=false"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("recorded %q, want %q", got, want)
	}
}

// A guest that died silently and was started again is reported stopped,
// whether its Started event comes before the check that would find the
// death or after it.
func TestFollowSilentDeathThenRestart(t *testing.T) {
	x := libvirt.Domain{Name: "x", UUID: libvirt.UUID{1}, ID: 6}
	known := func() map[libvirt.UUID]domainState {
		return map[libvirt.UUID]domainState{x.UUID: {name: "x", id: 5, state: libvirt.DomainRunning, persistent: true}}
	}
	off := map[libvirt.UUID]domainState{x.UUID: {name: "x", id: -1, state: libvirt.DomainShutoff, persistent: true}}
	rerun := map[libvirt.UUID]domainState{x.UUID: {name: "x", id: 6, state: libvirt.DomainRunning, persistent: true}}
	started := []libvirt.DomainEventLifecycleMsg{{Dom: x, Event: int32(Started)}}
	want := []string{"x Stopped reconciled=true", "x Started reconciled=false"}
	if got := followScript(t, known(), []scriptStep{{off, started}, {rerun, nil}, {rerun, nil}}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("restarted before the second check: recorded %q, want %q", got, want)
	}
	if got := followScript(t, known(), []scriptStep{{off, nil}, {off, started}, {rerun, nil}, {rerun, nil}}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("restarted after the second check: recorded %q, want %q", got, want)
	}
	// virsh start sends Resumed before Started, both of the new run.
	resumedStarted := []libvirt.DomainEventLifecycleMsg{{Dom: x, Event: int32(Resumed)}, {Dom: x, Event: int32(Started)}}
	want = []string{"x Stopped reconciled=true", "x Resumed reconciled=false", "x Started reconciled=false"}
	if got := followScript(t, known(), []scriptStep{{off, resumedStarted}, {rerun, nil}, {rerun, nil}}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("restarted by virsh start: recorded %q, want %q", got, want)
	}
}

// A transient domain known only as not running that is gone leaves known.
func TestCheckDropsGoneDomainsThatChangeNothing(t *testing.T) {
	s, store := offlineSubscriber(t)
	known := map[libvirt.UUID]domainState{{1}: {name: "t", id: -1, state: libvirt.DomainShutoff}}
	s.check(known, map[libvirt.UUID]domainState{}, nil)
	if len(known) != 0 || len(store.Query(Query{Types: AllTypes})) != 0 {
		t.Errorf("known %v, events %v", known, store.Query(Query{Types: AllTypes}))
	}
}

// Events are recorded while a state listing waits on libvirt: the listing
// runs beside the event loop, never in its way. The follow ends, and its
// listing with it, when ctx does.
func TestFollowRecordsEventsWhileAListingHangs(t *testing.T) {
	s, store := offlineSubscriber(t)
	s.checkEvery = time.Millisecond
	started, release := make(chan struct{}, 1), make(chan struct{})
	s.listing = func(context.Context, map[libvirt.UUID]domainState) (map[libvirt.UUID]domainState, error) {
		select {
		case started <- struct{}{}:
		default:
		}
		<-release // a libvirtd that does not answer
		return nil, errors.New("no answer")
	}
	ch := make(chan libvirt.DomainEventLifecycleMsg, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.follow(ctx, ch, map[libvirt.UUID]domainState{})
	}()
	<-started
	ch <- libvirt.DomainEventLifecycleMsg{Dom: libvirt.Domain{Name: "x", UUID: libvirt.UUID{1}, ID: -1}, Event: int32(Defined)}
	deadline := time.Now().Add(5 * time.Second)
	for len(recorded(store, 0)) == 0 {
		if time.Now().After(deadline) {
			cancel()
			close(release)
			<-done
			t.Fatal("an event was not recorded within 5 s while a listing hung")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	close(release)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end with its context")
	}
}
