package events

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// saved is the Save output of a store that held evs, added one a second
// from t0, and the events as stored.
func saved(t testing.TB, maxCount int, evs []Event) ([]byte, []Event) {
	t.Helper()
	c := &clock{t: t0}
	s := newStore(time.Hour, maxCount, c.now)
	var stored []Event
	for i, e := range evs {
		c.set(t0.Add(time.Duration(i) * time.Second))
		stored = append(stored, s.Add(e))
	}
	var buf bytes.Buffer
	if err := s.Save(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), stored
}

// sample is a mix of domains, known and unknown types and details, and a
// reconciled event.
func sample(n int) []Event {
	var evs []Event
	for i := 0; i < n; i++ {
		evs = append(evs, Event{Type: Type(i % (numTypes + 1)), Detail: int32(i%4) - 1,
			DomainName: fmt.Sprintf("vm-ü-%d", i%5), DomainUUID: fmt.Sprintf("uuid-%d", i%5)})
	}
	return evs
}

// What a restarted vAdvisor loads is what the stopped one stored: same
// IDs, times, domains, types and details.
func TestStoreSaveLoadRoundTrip(t *testing.T) {
	data, stored := saved(t, 1000, sample(50))
	// Created at the stopped run's start: its own first ID is below the
	// loaded ones (TestStoreLoadIDsContinue has the other case).
	c := &clock{t: t0}
	s := newStore(time.Hour, 1000, c.now)
	c.set(t0.Add(time.Minute))
	if err := s.Load(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if got := s.Query(Query{Types: AllTypes}); !reflect.DeepEqual(got, stored) {
		t.Errorf("loaded\n  %v\nwant\n  %v", got, stored)
	}
	// The counters are the process's own: loading received nothing.
	want := `
# HELP vadvisor_events_stored Events held in the event history.
# TYPE vadvisor_events_stored gauge
vadvisor_events_stored 50
# HELP vadvisor_events_received_total Lifecycle events reported by libvirt, by type.
# TYPE vadvisor_events_received_total counter
vadvisor_events_received_total{event_type="Crashed"} 0
vadvisor_events_received_total{event_type="Defined"} 0
vadvisor_events_received_total{event_type="PMSuspended"} 0
vadvisor_events_received_total{event_type="Resumed"} 0
vadvisor_events_received_total{event_type="Shutdown"} 0
vadvisor_events_received_total{event_type="Started"} 0
vadvisor_events_received_total{event_type="Stopped"} 0
vadvisor_events_received_total{event_type="Suspended"} 0
vadvisor_events_received_total{event_type="Undefined"} 0
`
	if err := testutil.CollectAndCompare(s, strings.NewReader(want), "vadvisor_events_stored", "vadvisor_events_received_total"); err != nil {
		t.Error(err)
	}
	// Saved again, the same data: nothing is lost or reordered on the way.
	var again bytes.Buffer
	if err := s.Save(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), data) {
		t.Error("a loaded store saves other data than it loaded")
	}
}

// A restart applies the retention and the count limit of its own settings.
func TestStoreLoadDropsAgedAndExcess(t *testing.T) {
	data, stored := saved(t, 1000, sample(50)) // at t0 .. t0+49s
	for _, tc := range []struct {
		name     string
		now      time.Time
		maxAge   time.Duration
		maxCount int
		want     []Event
	}{
		{"retention", t0.Add(time.Minute), 20 * time.Second, 1000, stored[40:]},
		{"count", t0.Add(time.Minute), time.Hour, 7, stored[43:]},
		{"both", t0.Add(time.Minute), 20 * time.Second, 3, stored[47:]},
		{"all aged", t0.Add(2 * time.Hour), time.Hour, 1000, nil},
	} {
		c := &clock{t: tc.now}
		s := newStore(tc.maxAge, tc.maxCount, c.now)
		if err := s.Load(bytes.NewReader(data)); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := s.Query(Query{Types: AllTypes}); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: kept %v, want %v", tc.name, ids(got), ids(tc.want))
		}
	}
}

// A client that resumes a stream with an ID from before the restart gets
// every later event: new IDs are above the loaded ones, and above the IDs
// of events the last save missed (a crash), whose IDs were below the new
// run's start time in milliseconds.
func TestStoreLoadIDsContinue(t *testing.T) {
	data, stored := saved(t, 1000, sample(10))
	last := stored[len(stored)-1].ID
	for _, tc := range []struct {
		name  string
		start time.Time
		want  uint64
	}{
		{"after a crash", t0.Add(time.Hour), uint64(t0.Add(time.Hour).UnixMilli())},
		// More than 1000 events a second, or a clock stepped back.
		{"IDs ahead of the clock", t0.Add(-time.Hour), last + 1},
	} {
		c := &clock{t: tc.start}
		s := newStore(2*time.Hour, 1000, c.now)
		if err := s.Load(bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		sub, replay := s.SubscribeAfter(AllTypes, 10, stored[7].ID)
		if got := ids(replay); fmt.Sprint(got) != fmt.Sprint(ids(stored[8:])) {
			t.Errorf("%s: resuming after %d replays %v, want %v", tc.name, stored[7].ID, got, ids(stored[8:]))
		}
		e := s.Add(Event{Type: Started})
		if e.ID != tc.want {
			t.Errorf("%s: the first new event has ID %d, want %d (last loaded %d)", tc.name, e.ID, tc.want, last)
		}
		if line := <-sub.Lines(); line.ID != e.ID {
			t.Errorf("%s: the stream got ID %d, want %d", tc.name, line.ID, e.ID)
		}
		if e.Time.Before(stored[len(stored)-1].Time) {
			t.Errorf("%s: new event at %v, before the last loaded one at %v", tc.name, e.Time, stored[len(stored)-1].Time)
		}
	}
	// Every event aged out: the saved next ID still holds.
	empty := newStore(time.Hour, 10, (&clock{t: t0.Add(-time.Hour)}).now)
	var buf bytes.Buffer
	s := newStore(time.Hour, 10, (&clock{t: t0.Add(3 * time.Hour)}).now)
	if err := s.Load(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(&buf); err != nil {
		t.Fatal(err)
	}
	if err := empty.Load(&buf); err != nil {
		t.Fatal(err)
	}
	if e := empty.Add(Event{}); e.ID != uint64(t0.Add(3*time.Hour).UnixMilli()) {
		t.Errorf("after a save of no events: ID %d, want the saving run's %d", e.ID, t0.Add(3*time.Hour).UnixMilli())
	}
}

// Damaged data is refused whole, and the store stays empty and usable.
func TestStoreLoadRefusesBadData(t *testing.T) {
	data, _ := saved(t, 1000, sample(20))
	bad := map[string][]byte{
		"trailing byte":  append(bytes.Clone(data), 0),
		"format version": append([]byte{2}, data[1:]...),
		"empty":          {},
	}
	for n := 1; n < len(data); n++ {
		bad[fmt.Sprintf("truncated to %d bytes", n)] = data[:n]
	}
	for name, b := range bad {
		s := newStore(time.Hour, 1000, (&clock{t: t0}).now)
		if err := s.Load(bytes.NewReader(b)); err == nil {
			t.Errorf("%s: loaded", name)
			continue
		}
		if n := s.Len(); n != 0 {
			t.Errorf("%s: %d events left after a refused load", name, n)
		}
		if e := s.Add(Event{}); e.ID != uint64(t0.UnixMilli()) {
			t.Errorf("%s: ID %d after a refused load, want %d", name, e.ID, t0.UnixMilli())
		}
	}
	s := newStore(time.Hour, 1000, (&clock{t: t0}).now)
	s.Add(Event{Type: Started})
	if err := s.Load(bytes.NewReader(data)); err == nil || s.Len() != 1 {
		t.Errorf("a store holding events loaded more (err %v, %d events)", err, s.Len())
	}
}

// Garbage never panics, never keeps more than the settings allow, and
// what is loaded saves and loads again unchanged.
func FuzzStoreLoad(f *testing.F) {
	valid, _ := saved(f, 1000, sample(20))
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		now := (&clock{t: t0.Add(10 * time.Second)}).now
		s := newStore(time.Hour, 5, now)
		if err := s.Load(bytes.NewReader(data)); err != nil {
			return
		}
		got := s.Query(Query{Types: AllTypes})
		if len(got) > 5 {
			t.Fatalf("kept %d events, more than the 5 allowed", len(got))
		}
		for i := 1; i < len(got); i++ {
			if got[i].ID <= got[i-1].ID || got[i].Time.Before(got[i-1].Time) {
				t.Fatalf("loaded out of order: %v", got)
			}
		}
		var buf bytes.Buffer
		if err := s.Save(&buf); err != nil {
			t.Fatal(err)
		}
		again := newStore(time.Hour, 5, now)
		if err := again.Load(&buf); err != nil {
			t.Fatalf("a loaded store's save does not load: %v", err)
		}
		if re := again.Query(Query{Types: AllTypes}); !reflect.DeepEqual(re, got) {
			t.Fatalf("loaded %v, saved and loaded again %v", got, re)
		}
		if a, b := s.Add(Event{}), again.Add(Event{}); a.ID != b.ID {
			t.Fatalf("next IDs %d and %d differ", a.ID, b.ID)
		}
	})
}
