package events

import (
	"fmt"
	"sort"
	"sync"
	"time"
	"unique"

	"github.com/prometheus/client_golang/prometheus"
)

// record is an event as stored. The names are interned, since a host has
// few domains and many events.
type record struct {
	id     uint64 // greater than the previous record's
	time   int64  // Unix nanoseconds, never less than the previous record's
	name   unique.Handle[string]
	uuid   unique.Handle[string]
	typ    Type
	detail int32
}

// Store keeps the recent events in time order, bounded by age and count,
// and hands each new one to the live subscriptions.
type Store struct {
	maxAge   time.Duration
	maxCount int
	now      func() time.Time

	// fanOut orders the fan-out of concurrent Adds by ID; it is taken
	// before mu, and held while the event is encoded without mu.
	fanOut sync.Mutex

	mu      sync.Mutex
	ring    []record
	head, n int
	nextID  uint64
	last    int64
	subs    map[*Subscription]struct{}
	// kept is the time (Unix ns) from which the count limit has dropped
	// nothing: the store's creation, or just after the newest event it
	// dropped. The age limit is applied on top (KeptSince).
	kept int64

	received, reconciled map[Type]uint64
	lagDrops             uint64
}

// NewStore keeps events for maxAge and at most maxCount of them. IDs start
// at the store's creation time in Unix milliseconds, so they keep growing
// across restarts (unless more than 1000 events a second were stored) and
// a client resuming with an ID from an earlier run misses nothing: not
// even after a crash lost the events written after the last Save, as IDs
// continue from the greater of the loaded ones and the creation time.
func NewStore(maxAge time.Duration, maxCount int) (*Store, error) {
	if maxAge <= 0 {
		return nil, fmt.Errorf("event retention must be positive, got %s", maxAge)
	}
	if maxCount < 1 {
		return nil, fmt.Errorf("the most events kept must be at least 1, got %d", maxCount)
	}
	return newStore(maxAge, maxCount, time.Now), nil
}

func newStore(maxAge time.Duration, maxCount int, now func() time.Time) *Store {
	created := now()
	return &Store{
		maxAge:     maxAge,
		maxCount:   maxCount,
		now:        now,
		nextID:     uint64(created.UnixMilli()),
		kept:       created.UnixNano(),
		subs:       map[*Subscription]struct{}{},
		received:   map[Type]uint64{},
		reconciled: map[Type]uint64{},
	}
}

// Add stores e with the next ID and the current time (e's own are ignored),
// hands it to every matching subscription without waiting for any, and
// returns it as stored. The event is encoded for the streams once, and
// not under the lock that queries and subscriptions wait for.
func (s *Store) Add(e Event) Event {
	now := s.now().UnixNano()
	s.fanOut.Lock()
	defer s.fanOut.Unlock()
	s.mu.Lock()
	// A clock stepping back must not break the time order that queries
	// binary-search.
	now = max(now, s.last)
	s.last = now
	s.evictOlderThan(now - int64(s.maxAge))
	e.ID = s.nextID
	s.nextID++
	s.push(record{id: e.ID, time: now, name: unique.Make(e.DomainName), uuid: unique.Make(e.DomainUUID), typ: e.Type, detail: e.Detail})
	e.Time = time.Unix(0, now).UTC()
	if e.Reconciled() {
		s.reconciled[e.Type]++
	} else {
		s.received[e.Type]++
	}

	var subs []*Subscription
	for sub := range s.subs {
		if sub.types.Has(e.Type) {
			subs = append(subs, sub)
		}
	}
	s.mu.Unlock()
	if len(subs) == 0 {
		return e
	}

	line := Line{ID: e.ID, JSON: e.AppendLine(nil)}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range subs {
		if _, ok := s.subs[sub]; !ok {
			continue // closed meanwhile
		}
		select {
		case sub.ch <- line:
		default:
			sub.lagged = true
			s.lagDrops++
			s.unsubscribe(sub)
		}
	}
	return e
}

func (s *Store) push(r record) {
	if s.n == len(s.ring) {
		if len(s.ring) < s.maxCount {
			s.grow()
		} else {
			s.dropOldest()
		}
	}
	s.ring[(s.head+s.n)%len(s.ring)] = r
	s.n++
}

// grow doubles the ring (up to maxCount) so that a quiet host does not
// hold memory for maxCount events.
func (s *Store) grow() {
	ring := make([]record, min(max(2*len(s.ring), 64), s.maxCount))
	for i := 0; i < s.n; i++ {
		ring[i] = s.at(i)
	}
	s.ring, s.head = ring, 0
}

func (s *Store) dropOldest() {
	s.kept = max(s.kept, s.ring[s.head].time+1)
	s.ring[s.head] = record{} // lets the interned names go
	s.head = (s.head + 1) % len(s.ring)
	s.n--
}

func (s *Store) evictOlderThan(cutoff int64) {
	for s.n > 0 && s.ring[s.head].time < cutoff {
		s.dropOldest()
	}
}

// at is the i-th oldest record.
func (s *Store) at(i int) record { return s.ring[(s.head+i)%len(s.ring)] }

func (s *Store) event(i int) Event {
	r := s.at(i)
	return Event{
		ID:         r.id,
		Time:       time.Unix(0, r.time).UTC(),
		Type:       r.typ,
		Detail:     r.detail,
		DomainName: r.name.Value(),
		DomainUUID: r.uuid.Value(),
	}
}

// Query selects events from the store.
type Query struct {
	Start, End time.Time // inclusive; zero means unbounded
	Types      TypeSet
	// After, if not zero, selects only events with a greater ID.
	After uint64
	// Limit, if positive, keeps only the most recent Limit matches.
	Limit int
}

// Query returns the matching events in time order. It binary-searches the
// window and walks it from the newest end, so its cost is the size of the
// answer (plus the events of unselected types skipped on the way), not
// the size of the store.
func (s *Store) Query(q Query) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evictAged()
	lo, hi := s.window(q.Start, q.End)
	lo = max(lo, s.indexAfter(q.After))
	var out []Event
	for i := hi - 1; i >= lo && (q.Limit <= 0 || len(out) < q.Limit); i-- {
		if q.Types.Has(s.at(i).typ) {
			out = append(out, s.event(i))
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// window is the index range [lo, hi) of the records within start..end.
func (s *Store) window(start, end time.Time) (lo, hi int) {
	hi = s.n
	if !start.IsZero() {
		t := start.UnixNano()
		lo = sort.Search(s.n, func(i int) bool { return s.at(i).time >= t })
	}
	if !end.IsZero() {
		t := end.UnixNano()
		hi = sort.Search(s.n, func(i int) bool { return s.at(i).time > t })
	}
	return lo, max(lo, hi)
}

// Len is the number of events stored.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evictAged()
	return s.n
}

// Retention is how long events are kept.
func (s *Store) Retention() time.Duration { return s.maxAge }

// KeptSince is the time from which the store holds every event it was
// given: the latest of its creation, the retention ago, and just after
// the newest event the count limit dropped. A query from then on that
// finds nothing means there was nothing.
func (s *Store) KeptSince() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Unix(0, max(s.kept, s.now().UnixNano()-int64(s.maxAge))).UTC()
}

func (s *Store) evictAged() { s.evictOlderThan(s.now().UnixNano() - int64(s.maxAge)) }

// Line is an event encoded once for all the streams that want it.
type Line struct {
	ID   uint64
	JSON []byte // one NDJSON line, newline included
}

// Subscription receives the events stored after it was made, through a
// buffer of fixed size. A subscriber that lets the buffer fill up is
// dropped: its channel is closed and Lagged reports true.
type Subscription struct {
	store  *Store
	types  TypeSet
	ch     chan Line
	start  uint64
	lagged bool // guarded by store.mu
}

// Subscribe follows the events of the given types stored from now on;
// buffer bounds how far the subscriber may fall behind.
func (s *Store) Subscribe(types TypeSet, buffer int) *Subscription {
	sub, _ := s.subscribe(types, buffer, nil)
	return sub
}

// SubscribeAfter is Subscribe that also returns the stored events of the
// given types with an ID greater than after: the replay and the
// subscription meet without a gap or a duplicate.
func (s *Store) SubscribeAfter(types TypeSet, buffer int, after uint64) (*Subscription, []Event) {
	return s.subscribe(types, buffer, &after)
}

func (s *Store) subscribe(types TypeSet, buffer int, after *uint64) (*Subscription, []Event) {
	sub := &Subscription{store: s, types: types, ch: make(chan Line, max(buffer, 1))}
	s.mu.Lock()
	defer s.mu.Unlock()
	sub.start = s.nextID - 1
	s.subs[sub] = struct{}{}
	if after == nil {
		return sub, nil
	}
	var replay []Event
	for i := s.indexAfter(*after); i < s.n; i++ {
		if types.Has(s.at(i).typ) {
			replay = append(replay, s.event(i))
		}
	}
	return sub, replay
}

// indexAfter is the index of the first record with an ID greater than id.
func (s *Store) indexAfter(id uint64) int {
	return sort.Search(s.n, func(i int) bool { return s.at(i).id > id })
}

// Start is the ID of the newest event stored when the subscription was
// made: every later event goes to the subscription (or is replayed).
func (sub *Subscription) Start() uint64 { return sub.start }

// Lines delivers the events; it is closed when the subscription ends.
func (sub *Subscription) Lines() <-chan Line { return sub.ch }

// Lagged reports whether the subscription was dropped for falling behind.
func (sub *Subscription) Lagged() bool {
	sub.store.mu.Lock()
	defer sub.store.mu.Unlock()
	return sub.lagged
}

// Close ends the subscription. Lines already buffered stay readable.
func (sub *Subscription) Close() {
	sub.store.mu.Lock()
	defer sub.store.mu.Unlock()
	sub.store.unsubscribe(sub)
}

func (s *Store) unsubscribe(sub *Subscription) {
	if _, ok := s.subs[sub]; ok {
		delete(s.subs, sub)
		close(sub.ch)
	}
}

var (
	receivedDesc = prometheus.NewDesc("vadvisor_events_received_total",
		"Lifecycle events reported by libvirt, by type.", []string{"event_type"}, nil)
	reconciledDesc = prometheus.NewDesc("vadvisor_events_reconciled_total",
		"Lifecycle events reconstructed from the domain list after a lost libvirt connection or a change libvirt made without an event, by type.", []string{"event_type"}, nil)
	storedDesc = prometheus.NewDesc("vadvisor_events_stored",
		"Events held in the event history.", nil, nil)
	clientsDesc = prometheus.NewDesc("vadvisor_events_stream_clients",
		"Event stream clients connected.", nil, nil)
	lagDropsDesc = prometheus.NewDesc("vadvisor_events_stream_clients_dropped_total",
		"Event stream clients disconnected for falling too far behind.", nil, nil)
)

// Describe implements prometheus.Collector.
func (s *Store) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{receivedDesc, reconciledDesc, storedDesc, clientsDesc, lagDropsDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *Store) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evictAged()
	// Every known type is exported from the start, so that rate() sees
	// the first event of a type.
	for _, t := range Types() {
		ch <- prometheus.MustNewConstMetric(receivedDesc, prometheus.CounterValue, float64(s.received[t]), t.String())
		ch <- prometheus.MustNewConstMetric(reconciledDesc, prometheus.CounterValue, float64(s.reconciled[t]), t.String())
	}
	for t, n := range s.received {
		if !t.known() {
			ch <- prometheus.MustNewConstMetric(receivedDesc, prometheus.CounterValue, float64(n), t.String())
		}
	}
	for t, n := range s.reconciled {
		if !t.known() {
			ch <- prometheus.MustNewConstMetric(reconciledDesc, prometheus.CounterValue, float64(n), t.String())
		}
	}
	ch <- prometheus.MustNewConstMetric(storedDesc, prometheus.GaugeValue, float64(s.n))
	ch <- prometheus.MustNewConstMetric(clientsDesc, prometheus.GaugeValue, float64(len(s.subs)))
	ch <- prometheus.MustNewConstMetric(lagDropsDesc, prometheus.CounterValue, float64(s.lagDrops))
}
