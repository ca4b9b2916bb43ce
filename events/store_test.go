package events

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

var t0 = time.Date(2026, 11, 23, 19, 0, 0, 0, time.UTC)

// fill stores one event per second from t0, cycling through the types.
func fill(s *Store, c *clock, n int) []Event {
	var out []Event
	for i := 0; i < n; i++ {
		c.set(t0.Add(time.Duration(i) * time.Second))
		out = append(out, s.Add(Event{Type: Type(i % numTypes), Detail: 0, DomainName: fmt.Sprintf("vm%d", i%3), DomainUUID: fmt.Sprintf("uuid-%d", i%3)}))
	}
	return out
}

func ids(evs []Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func TestStoreIDsAndTimes(t *testing.T) {
	c := &clock{t: t0}
	s := newStore(time.Hour, 100, c.now)
	a := s.Add(Event{Type: Started})
	c.set(t0.Add(-time.Minute)) // the clock steps back
	b := s.Add(Event{Type: Stopped})
	if a.ID != uint64(t0.UnixMilli()) || b.ID != a.ID+1 {
		t.Errorf("IDs %d, %d; want %d and the next", a.ID, b.ID, t0.UnixMilli())
	}
	if b.Time.Before(a.Time) || b.Time.Location() != time.UTC {
		t.Errorf("times %v then %v: must be UTC and never go back", a.Time, b.Time)
	}
}

func TestStoreQuery(t *testing.T) {
	c := &clock{}
	s := newStore(time.Hour, 1000, c.now)
	all := fill(s, c, 30)
	base := all[0].ID
	cases := []struct {
		name string
		q    Query
		want []uint64
	}{
		{"limit keeps the most recent, in time order", Query{Types: AllTypes, Limit: 3}, []uint64{base + 27, base + 28, base + 29}},
		{"window is inclusive", Query{Types: AllTypes, Start: t0.Add(5 * time.Second), End: t0.Add(7 * time.Second)}, []uint64{base + 5, base + 6, base + 7}},
		{"window and limit", Query{Types: AllTypes, Start: t0.Add(5 * time.Second), End: t0.Add(20 * time.Second), Limit: 2}, []uint64{base + 19, base + 20}},
		{"types", Query{Types: TypeSet(0).Add(Started).Add(Crashed)}, []uint64{base + 2, base + 8, base + 11, base + 17, base + 20, base + 26, base + 29}},
		{"types and limit", Query{Types: TypeSet(0).Add(Started), Limit: 2}, []uint64{base + 20, base + 29}},
		{"after", Query{Types: AllTypes, After: base + 27}, []uint64{base + 28, base + 29}},
		{"empty window", Query{Types: AllTypes, Start: t0.Add(time.Hour)}, []uint64{}},
	}
	for _, tc := range cases {
		got := ids(s.Query(tc.q))
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestStoreLimits(t *testing.T) {
	c := &clock{}
	s := newStore(time.Hour, 10, c.now)
	all := fill(s, c, 25)
	got := s.Query(Query{Types: AllTypes})
	if len(got) != 10 || got[0].ID != all[15].ID || got[9].ID != all[24].ID {
		t.Fatalf("count limit: kept %v, want the last 10 of %v", ids(got), ids(all))
	}
	if got[0].DomainName != all[15].DomainName || got[0].Type != all[15].Type {
		t.Errorf("wrapped ring returned %+v for %+v", got[0], all[15])
	}
	// An hour after the last event, all have aged out; IDs keep counting.
	c.set(t0.Add(25*time.Second + time.Hour))
	if n := s.Len(); n != 0 {
		t.Errorf("age limit: %d events left", n)
	}
	if e := s.Add(Event{Type: Started}); e.ID != all[24].ID+1 {
		t.Errorf("ID after eviction %d, want %d", e.ID, all[24].ID+1)
	}
}

// KeptSince is when a client may trust an empty answer from: the store's
// start, then just after the newest event the count limit dropped, then
// the retention ago.
func TestStoreKeptSince(t *testing.T) {
	c := &clock{t: t0.Add(-time.Minute)}
	s := newStore(time.Hour, 10, c.now)
	if got := s.KeptSince(); !got.Equal(t0.Add(-time.Minute)) {
		t.Errorf("new store: kept since %v, want its creation %v", got, t0.Add(-time.Minute))
	}
	all := fill(s, c, 25) // the count limit drops the first 15
	if got, want := s.KeptSince(), all[14].Time.Add(time.Nanosecond); !got.Equal(want) {
		t.Errorf("after the count limit dropped up to %v: kept since %v, want %v", all[14].Time, got, want)
	}
	c.set(t0.Add(2 * time.Hour))
	if got := s.KeptSince(); !got.Equal(t0.Add(time.Hour)) || got.Location() != time.UTC {
		t.Errorf("two hours on: kept since %v, want the retention ago, %v UTC", got, t0.Add(time.Hour))
	}
	if s.Retention() != time.Hour {
		t.Errorf("retention %s, want 1h", s.Retention())
	}
}

func TestStoreFanOutDropsLaggingSubscriber(t *testing.T) {
	s := newStore(time.Hour, 100, time.Now)
	slow := s.Subscribe(AllTypes, 2)
	fast := s.Subscribe(AllTypes, 2)
	startedOnly := s.Subscribe(TypeSet(0).Add(Started), 2)
	for i := 0; i < 3; i++ {
		s.Add(Event{Type: Stopped, DomainName: "vm"})
		<-fast.Lines()
	}
	if n := len(startedOnly.Lines()); n != 0 || startedOnly.Lagged() {
		t.Errorf("a Started-only subscriber got %d Stopped events (lagged=%v)", n, startedOnly.Lagged())
	}
	var got []string
	for line := range slow.Lines() {
		got = append(got, string(line.JSON))
	}
	if !slow.Lagged() || len(got) != 2 {
		t.Errorf("slow subscriber: lagged=%v after %d lines, want dropped after 2", slow.Lagged(), len(got))
	}
	if fast.Lagged() {
		t.Error("a subscriber that kept up was dropped")
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(got[0]), &m); err != nil || m["event_type"] != "Stopped" || !strings.HasSuffix(got[0], "\n") {
		t.Errorf("line %q: %v", got[0], err)
	}
	want := `
# HELP vadvisor_events_stream_clients Event stream clients connected.
# TYPE vadvisor_events_stream_clients gauge
vadvisor_events_stream_clients 2
# HELP vadvisor_events_stream_clients_dropped_total Event stream clients disconnected for falling too far behind.
# TYPE vadvisor_events_stream_clients_dropped_total counter
vadvisor_events_stream_clients_dropped_total 1
# HELP vadvisor_events_stored Events held in the event history.
# TYPE vadvisor_events_stored gauge
vadvisor_events_stored 3
`
	if err := testutil.CollectAndCompare(s, strings.NewReader(want), "vadvisor_events_stream_clients", "vadvisor_events_stream_clients_dropped_total", "vadvisor_events_stored"); err != nil {
		t.Error(err)
	}
}

// A subscriber resuming while events are being stored gets every event
// after its ID exactly once, in order, partly replayed and partly live.
func TestStoreSubscribeAfterHasNoGapOrDuplicate(t *testing.T) {
	s := newStore(time.Hour, 100000, time.Now)
	first := s.Add(Event{Type: Started})
	const n = 20000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			s.Add(Event{Type: Type(i % numTypes)})
		}
	}()
	time.Sleep(time.Millisecond)
	sub, replay := s.SubscribeAfter(AllTypes, n, first.ID)
	<-done
	sub.Close()
	got := ids(replay)
	for line := range sub.Lines() {
		got = append(got, line.ID)
	}
	if len(got) != n {
		t.Fatalf("got %d events, want %d (replayed %d)", len(got), n, len(replay))
	}
	for i, id := range got {
		if id != first.ID+1+uint64(i) {
			t.Fatalf("event %d has ID %d, want %d", i, id, first.ID+1+uint64(i))
		}
	}
}

func TestReasonsAndUnknownTypes(t *testing.T) {
	cases := []struct {
		t      Type
		detail int32
		want   string
	}{
		{Started, 0, "Started/Booted"},
		{Suspended, 8, "Suspended/PostcopyFailed"},
		{Stopped, 7, "Stopped/Recreated"},
		{Crashed, 1, "Crashed/Crashloaded"},
		{Undefined, 1, "Undefined/Renamed"},
		{Shutdown, 9, "Shutdown/Unknown(9)"},
		{Type(9), 2, "Unknown(9)/Unknown(2)"},
		{Stopped, DetailReconciled, "Stopped/Reconciled"},
	}
	for _, tc := range cases {
		if got := tc.t.String() + "/" + Reason(tc.t, tc.detail); got != tc.want {
			t.Errorf("(%d, %d) = %s, want %s", tc.t, tc.detail, got, tc.want)
		}
	}
	if !AllTypes.Has(Type(9)) || TypeSet(0).Add(Started).Has(Type(9)) {
		t.Error("an unknown type must match all types and nothing narrower")
	}
	if PMSuspended.Param() != "pmsuspended_events" {
		t.Errorf("PMSuspended.Param() = %s", PMSuspended.Param())
	}

	s := newStore(time.Hour, 10, time.Now)
	s.Add(Event{Type: Type(9), Detail: 3})
	s.Add(Event{Type: Started, Detail: DetailReconciled})
	want := `
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
vadvisor_events_received_total{event_type="Unknown(9)"} 1
`
	if err := testutil.CollectAndCompare(s, strings.NewReader(want), "vadvisor_events_received_total"); err != nil {
		t.Error(err)
	}
	// One series per known type from the start, the reconciled Started counted.
	reconciled := `
# HELP vadvisor_events_reconciled_total Lifecycle events reconstructed from the domain list after a lost libvirt connection or a change libvirt made without an event, by type.
# TYPE vadvisor_events_reconciled_total counter
vadvisor_events_reconciled_total{event_type="Crashed"} 0
vadvisor_events_reconciled_total{event_type="Defined"} 0
vadvisor_events_reconciled_total{event_type="PMSuspended"} 0
vadvisor_events_reconciled_total{event_type="Resumed"} 0
vadvisor_events_reconciled_total{event_type="Shutdown"} 0
vadvisor_events_reconciled_total{event_type="Started"} 1
vadvisor_events_reconciled_total{event_type="Stopped"} 0
vadvisor_events_reconciled_total{event_type="Suspended"} 0
vadvisor_events_reconciled_total{event_type="Undefined"} 0
`
	if err := testutil.CollectAndCompare(s, strings.NewReader(reconciled), "vadvisor_events_reconciled_total"); err != nil {
		t.Error(err)
	}
	line := string(s.Query(Query{Types: AllTypes, Limit: 1})[0].AppendLine(nil))
	if !strings.Contains(line, `"event_type":"Started","reason":"Reconciled"`) || !strings.Contains(line, `"reconciled":true`) {
		t.Errorf("reconciled event line %s", line)
	}
}

func TestNewStoreRejectsBadLimits(t *testing.T) {
	if _, err := NewStore(0, 10); err == nil {
		t.Error("a zero retention was accepted")
	}
	if _, err := NewStore(time.Hour, 0); err == nil {
		t.Error("a zero event count was accepted")
	}
}
