package events

import (
	"context"
	"encoding/hex"
	"log/slog"
	"maps"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vadvisor/vadvisor/libvirtconn"
)

const (
	minRetry = 100 * time.Millisecond
	maxRetry = 5 * time.Second

	// checkEvery is how often the state kept from events is compared with
	// a listing (see follow).
	checkEvery = 2 * time.Second
)

// Subscriber follows libvirt's lifecycle events into a store. It shares
// the connection owner's connection, resubscribes whenever that
// reconnects, and records what changed while it was away as reconciled
// events, so that a gap never hides that a domain went away. It records
// the changes libvirt makes without an event the same way.
type Subscriber struct {
	conn   *libvirtconn.Conn
	store  *Store
	logger *slog.Logger

	// The state check of follow: its interval, and its listing (list,
	// but for unit tests).
	checkEvery time.Duration
	listing    func(context.Context, map[libvirt.UUID]domainState) (map[libvirt.UUID]domainState, error)

	subscribed    atomic.Bool
	subscriptions atomic.Uint64
}

// NewSubscriber records the events of conn's libvirt into store once Run runs.
func NewSubscriber(conn *libvirtconn.Conn, store *Store, logger *slog.Logger) *Subscriber {
	s := &Subscriber{conn: conn, store: store, logger: logger, checkEvery: checkEvery}
	s.listing = s.list
	return s
}

// Subscribed reports whether events are being received right now.
func (s *Subscriber) Subscribed() bool { return s.subscribed.Load() }

// Run subscribes and records events until ctx ends.
func (s *Subscriber) Run(ctx context.Context) {
	var known map[libvirt.UUID]domainState // nil until the first listing
	retry, failing := minRetry, false
	for {
		if _, err := s.conn.WaitConnected(ctx); err != nil {
			return
		}
		// Subscribe before listing: a change between the two is then
		// in the listing or in the subscription, never in neither.
		ch, cancel, err := s.subscribe(ctx)
		var current map[libvirt.UUID]domainState
		if err == nil {
			if current, err = s.list(ctx, known); err != nil {
				cancel()
				drain(ch)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				s.logger.Warn("cannot subscribe to lifecycle events, retrying", "err", err)
				failing = true
			} else {
				s.logger.Debug("still cannot subscribe to lifecycle events", "err", err, "retry", retry)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
			retry = min(2*retry, maxRetry)
			continue
		}
		retry, failing = minRetry, false
		if known != nil {
			// Events already queued happened between subscribing and the
			// listing, so the listing shows them too: they are recorded
			// live, with their detail, and not again as reconciled. (One
			// that go-libvirt has yet to hand over is missed here, and
			// recorded both ways.)
			queued := takeQueued(ch)
			if n := s.reconcile(known, current, queued); n > 0 {
				s.logger.Info("recorded changes made while the event subscription was down", "events", n)
			}
			for _, msg := range queued {
				s.record(msg, current)
			}
		}
		known = current
		s.subscriptions.Add(1)
		s.subscribed.Store(true)
		s.logger.Info("subscribed to lifecycle events", "domains", len(known))

		s.follow(ctx, ch, known)
		s.subscribed.Store(false)
		cancel()
		drain(ch)
		if ctx.Err() != nil {
			return
		}
		s.logger.Warn("lost the lifecycle event subscription, resubscribing")
	}
}

// subscribe registers for lifecycle events, bounded like any other call.
// Should the registration complete only after we gave up on it, its
// channel is cancelled and drained then.
func (s *Subscriber) subscribe(ctx context.Context) (<-chan libvirt.DomainEventLifecycleMsg, context.CancelFunc, error) {
	subCtx, cancel := context.WithCancel(ctx)
	var (
		mu        sync.Mutex
		abandoned bool
		got       <-chan libvirt.DomainEventLifecycleMsg
	)
	ch, err := libvirtconn.Do(ctx, s.conn, func(l *libvirt.Libvirt) (<-chan libvirt.DomainEventLifecycleMsg, error) {
		ch, err := l.LifecycleEvents(subCtx)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if abandoned {
			go drain(ch)
		}
		got = ch
		return ch, nil
	})
	if err != nil {
		cancel()
		mu.Lock()
		abandoned = true
		if got != nil {
			go drain(got)
		}
		mu.Unlock()
		return nil, nil, err
	}
	return ch, cancel, nil
}

// drain empties a cancelled subscription until go-libvirt closes it, so
// that its goroutine is not left blocked on a send.
func drain(ch <-chan libvirt.DomainEventLifecycleMsg) {
	for range ch {
	}
}

// follow records the events until the subscription ends (the connection
// dropped) or ctx does, keeping known up to date for the next reconcile.
//
// checkEvery after the end of each check, it also compares known with a
// listing: libvirt changes some states without an event. After its own
// restart, for one, it lists a guest that died while it was down as
// running, and marks it shut off a second or two later, silently. A domain that
// differs from known the same way in two listings in a row, with no event
// of its own in between, missed its events: its changes are recorded as
// reconciled. An event on its way when a listing is made comes within
// checkEvery, so it is not reported twice.
//
// The listing runs on a goroutine of its own and hands its result back:
// events are recorded as they come, never after a listing waiting for a
// request slot or a slow libvirtd.
func (s *Subscriber) follow(ctx context.Context, ch <-chan libvirt.DomainEventLifecycleMsg, known map[libvirt.UUID]domainState) {
	type result struct {
		current map[libvirt.UUID]domainState
		err     error
	}
	// At most one listing is asked for at a time, so neither send blocks.
	asks, results := make(chan map[libvirt.UUID]domainState, 1), make(chan result, 1)
	listCtx, stopListing := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for snapshot := range asks {
			callCtx, cancel := context.WithTimeout(listCtx, s.checkEvery)
			current, err := s.listing(callCtx, snapshot)
			cancel()
			results <- result{current, err}
		}
	})
	defer func() {
		close(asks)
		stopListing()
		wg.Wait()
	}()

	timer := time.NewTimer(s.checkEvery)
	defer timer.Stop()
	var differing map[libvirt.UUID]listed
	event := func(msg libvirt.DomainEventLifecycleMsg) {
		s.record(msg, known)
		delete(differing, msg.Dom.UUID)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			event(msg)
		case <-timer.C:
			asks <- maps.Clone(known)
		case r := <-results:
			// Events that came with the listing count as before it.
			for _, msg := range takeQueued(ch) {
				event(msg)
			}
			if r.err == nil {
				differing = s.check(known, r.current, differing)
			} else {
				// A lost connection is reported by its owner, and ends the
				// subscription with it.
				s.logger.Debug("cannot list domains to check the event state", "err", r.err)
			}
			timer.Reset(s.checkEvery)
		}
	}
}

// listed is a domain as a listing showed it, or its absence.
type listed struct {
	domainState
	exists bool
}

// check records, as reconciled, the changes of the domains that differ
// from known in current the same way as in differing (the previous
// listing), and brings known in line with them. It returns the domains
// that differ otherwise, for the next check. Domains that are gone and
// whose going changed nothing (a transient one that never ran) are
// dropped from known.
func (s *Subscriber) check(known, current map[libvirt.UUID]domainState, differing map[libvirt.UUID]listed) map[libvirt.UUID]listed {
	var next map[libvirt.UUID]listed
	before, after := map[libvirt.UUID]domainState{}, map[libvirt.UUID]domainState{}
	compare := func(u libvirt.UUID) {
		k, had := known[u]
		c, has := current[u]
		if len(changes(k, had, c, has)) == 0 {
			if had && !has {
				delete(known, u)
			}
			return
		}
		now := listed{c, has}
		if prev, ok := differing[u]; !ok || prev != now {
			if next == nil {
				next = map[libvirt.UUID]listed{}
			}
			next[u] = now
			return
		}
		if had {
			before[u] = k
		}
		if has {
			after[u] = c
			known[u] = c
		} else {
			delete(known, u)
		}
	}
	for u := range known {
		compare(u)
	}
	for u := range current {
		if _, ok := known[u]; !ok {
			compare(u)
		}
	}
	if n := s.reconcile(before, after, nil); n > 0 {
		s.logger.Info("recorded changes libvirt made without an event", "events", n)
	}
	return next
}

// record stores a live event and applies it to known. An event of another
// run than the one known to be running means that run stopped without an
// event (see follow): that Stopped is recorded first, reconciled. (virsh
// start sends Resumed, then Started, both of the new run.)
func (s *Subscriber) record(msg libvirt.DomainEventLifecycleMsg, known map[libvirt.UUID]domainState) {
	if k, ok := known[msg.Dom.UUID]; ok && k.active() && msg.Dom.ID > 0 && msg.Dom.ID != k.id {
		s.store.Add(Event{Type: Stopped, Detail: DetailReconciled, DomainName: k.name, DomainUUID: formatUUID(msg.Dom.UUID)})
		apply(known, libvirt.DomainEventLifecycleMsg{Dom: libvirt.Domain{Name: k.name, UUID: msg.Dom.UUID, ID: -1}, Event: int32(Stopped)})
	}
	s.store.Add(Event{
		Type:       Type(msg.Event),
		Detail:     msg.Detail,
		DomainName: msg.Dom.Name,
		DomainUUID: formatUUID(msg.Dom.UUID),
	})
	apply(known, msg)
}

// takeQueued takes the events that have already arrived, without waiting.
func takeQueued(ch <-chan libvirt.DomainEventLifecycleMsg) []libvirt.DomainEventLifecycleMsg {
	var queued []libvirt.DomainEventLifecycleMsg
	for {
		select {
		case msg, ok := <-ch:
			if !ok {
				return queued
			}
			queued = append(queued, msg)
		default:
			return queued
		}
	}
}

func formatUUID(u libvirt.UUID) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	hex.Encode(b[9:13], u[4:6])
	hex.Encode(b[14:18], u[6:8])
	hex.Encode(b[19:23], u[8:10])
	hex.Encode(b[24:36], u[10:16])
	b[8], b[13], b[18], b[23] = '-', '-', '-', '-'
	return string(b[:])
}

// domainState is what the subscriber knows of a domain, coarse enough to
// be kept current from events alone.
type domainState struct {
	name       string
	id         int32 // libvirt's run id, -1 while inactive
	state      libvirt.DomainState
	persistent bool
}

func (d domainState) active() bool { return d.id != -1 }

// coarse folds the states that lifecycle events do not tell apart.
func coarse(s libvirt.DomainState) libvirt.DomainState {
	switch s {
	case libvirt.DomainPaused, libvirt.DomainShutoff, libvirt.DomainCrashed, libvirt.DomainPmsuspended:
		return s
	default:
		return libvirt.DomainRunning
	}
}

// apply updates known with the effect of one event.
func apply(known map[libvirt.UUID]domainState, msg libvirt.DomainEventLifecycleMsg) {
	d, ok := known[msg.Dom.UUID]
	if !ok {
		d = domainState{id: -1, state: libvirt.DomainShutoff}
	}
	d.name = msg.Dom.Name
	switch Type(msg.Event) {
	case Defined:
		d.persistent = true
	case Undefined:
		d.persistent = false
		if !d.active() {
			delete(known, msg.Dom.UUID)
			return
		}
	case Started:
		d.id, d.state = msg.Dom.ID, libvirt.DomainRunning
	case Suspended:
		d.state = libvirt.DomainPaused
	case Resumed:
		d.state = libvirt.DomainRunning
	case Stopped:
		if !d.persistent {
			delete(known, msg.Dom.UUID)
			return
		}
		d.id, d.state = -1, libvirt.DomainShutoff
	case PMSuspended:
		d.state = libvirt.DomainPmsuspended
	case Crashed:
		d.state = libvirt.DomainCrashed
	}
	known[msg.Dom.UUID] = d
}

// list reads every domain's state, as far as lifecycle events tell it,
// taking the domains in passing states as known holds them (see taken).
// It uses the listing calls and DomainGetState, which libvirtd answers
// from memory on its high-priority workers: neither a hung guest's
// monitor nor libvirtd's normal workers all waiting on hung guests stall
// it.
func (s *Subscriber) list(ctx context.Context, known map[libvirt.UUID]domainState) (map[libvirt.UUID]domainState, error) {
	listing := func(flags libvirt.ConnectListAllDomainsFlags) ([]libvirt.Domain, error) {
		return libvirtconn.Do(ctx, s.conn, func(l *libvirt.Libvirt) ([]libvirt.Domain, error) {
			doms, _, err := l.ConnectListAllDomains(1, flags)
			return doms, err
		})
	}
	stateOf := func(d libvirt.Domain) (libvirt.DomainState, int32, error) {
		type stateReason struct{ state, reason int32 }
		sr, err := libvirtconn.Do(ctx, s.conn, func(l *libvirt.Libvirt) (stateReason, error) {
			state, reason, err := l.DomainGetState(d, 0)
			return stateReason{state, reason}, err
		})
		return libvirt.DomainState(sr.state), sr.reason, err
	}
	all, err := listing(0)
	if err != nil {
		return nil, err
	}
	current := make(map[libvirt.UUID]domainState, len(all))
	for _, d := range all {
		state := libvirt.DomainRunning
		if d.ID == -1 {
			state = libvirt.DomainShutoff
		}
		current[d.UUID] = domainState{name: d.Name, id: d.ID, state: state, persistent: true}
	}
	transient, err := listing(libvirt.ConnectListDomainsTransient)
	if err != nil {
		return nil, err
	}
	for _, d := range transient {
		if c, ok := current[d.UUID]; ok {
			c.persistent = false
			current[d.UUID] = c
		}
	}
	paused, err := listing(libvirt.ConnectListDomainsPaused)
	if err != nil {
		return nil, err
	}
	for _, d := range paused {
		c, ok := current[d.UUID]
		if !ok {
			continue
		}
		c.state = libvirt.DomainPaused
		// Why it is paused matters only if the events did not say so.
		if k, ok := known[d.UUID]; !ok || k != c {
			state, reason, err := stateOf(d)
			if err != nil {
				return nil, err
			}
			c = taken(c, state, reason, k, ok)
		}
		current[d.UUID] = c
	}
	// Neither running, paused nor shut off: ask each (there are few).
	other, err := listing(libvirt.ConnectListDomainsOther)
	if err != nil {
		return nil, err
	}
	for _, d := range other {
		state, reason, err := stateOf(d)
		if err != nil {
			return nil, err
		}
		if c, ok := current[d.UUID]; ok {
			k, had := known[d.UUID]
			current[d.UUID] = taken(c, state, reason, k, had)
		}
	}
	return current, nil
}

// taken is how a domain listed as c, whose state and reason GetState gave,
// is taken, given what the events said of it (k, if had):
//   - starting up or migrating in, it is paused until libvirt sends its
//     Started (and Resumed) event: it stays as the events left it, or not
//     started yet if they left another run (or nothing). This lasts as
//     long as the start or the migration does;
//   - shutting down (or in a state lifecycle events do not tell apart),
//     it keeps the state the events gave the same run: a paused guest
//     being destroyed did not resume.
func taken(c domainState, state libvirt.DomainState, reason int32, k domainState, had bool) domainState {
	if starting(state, reason) {
		if had && (!k.active() || k.id == c.id) {
			return k
		}
		return domainState{name: c.name, id: -1, state: libvirt.DomainShutoff, persistent: c.persistent}
	}
	c.state = coarse(state)
	if c.state == libvirt.DomainRunning && state != libvirt.DomainRunning && had && k.active() && k.id == c.id {
		c.state = k.state
	}
	return c
}

// starting tells a domain paused only until libvirt sends its Started
// (and Resumed) event: one starting up or migrating in.
func starting(state libvirt.DomainState, reason int32) bool {
	return state == libvirt.DomainPaused &&
		(reason == int32(libvirt.DomainPausedStartingUp) || reason == int32(libvirt.DomainPausedMigration))
}

// reconcile records, as reconciled events, the changes between the
// states before and after a gap in the subscription, except those that
// one of the live events will report (each stands for one change), and
// returns how many it recorded.
func (s *Subscriber) reconcile(before, after map[libvirt.UUID]domainState, live []libvirt.DomainEventLifecycleMsg) int {
	type change struct {
		uuid libvirt.UUID
		t    Type
	}
	reported := map[change]int{}
	for _, msg := range live {
		reported[change{msg.Dom.UUID, Type(msg.Event)}]++
	}
	uuids := make([]libvirt.UUID, 0, len(after))
	for u := range before {
		uuids = append(uuids, u)
	}
	for u := range after {
		if _, ok := before[u]; !ok {
			uuids = append(uuids, u)
		}
	}
	sort.Slice(uuids, func(i, j int) bool { return string(uuids[i][:]) < string(uuids[j][:]) })
	n := 0
	for _, u := range uuids {
		b, hadB := before[u]
		a, hasA := after[u]
		name := a.name
		if !hasA {
			name = b.name
		}
		for _, t := range changes(b, hadB, a, hasA) {
			if c := (change{u, t}); reported[c] > 0 {
				reported[c]--
				continue
			}
			s.store.Add(Event{Type: t, Detail: DetailReconciled, DomainName: name, DomainUUID: formatUUID(u)})
			n++
		}
	}
	return n
}

// changes lists the event types that lead from domain state b to a; had
// and has tell whether the domain existed before and after.
func changes(b domainState, had bool, a domainState, has bool) []Type {
	if !had {
		b = domainState{id: -1, state: libvirt.DomainShutoff}
	}
	if !has {
		a = domainState{id: -1, state: libvirt.DomainShutoff}
	}
	var ts []Type
	if has && a.persistent && (!had || !b.persistent || a.name != b.name) {
		ts = append(ts, Defined)
	}
	restarted := b.active() && a.active() && b.id != a.id
	if a.state == libvirt.DomainCrashed && (b.state != libvirt.DomainCrashed || restarted) {
		ts = append(ts, Crashed)
	}
	if b.active() && (!a.active() || restarted) {
		ts = append(ts, Stopped)
	}
	if a.active() {
		prev := b.state
		if !b.active() || restarted {
			ts = append(ts, Started)
			prev = libvirt.DomainRunning
		}
		switch {
		case a.state == libvirt.DomainPaused && prev != libvirt.DomainPaused:
			ts = append(ts, Suspended)
		case a.state == libvirt.DomainPmsuspended && prev != libvirt.DomainPmsuspended:
			ts = append(ts, PMSuspended)
		case a.state == libvirt.DomainRunning && prev == libvirt.DomainPaused:
			ts = append(ts, Resumed)
		case a.state == libvirt.DomainRunning && prev == libvirt.DomainPmsuspended:
			ts = append(ts, Started)
		}
	}
	if had && b.persistent && (!has || !a.persistent) {
		ts = append(ts, Undefined)
	}
	return ts
}

var (
	subscribedDesc = prometheus.NewDesc("vadvisor_events_libvirt_subscribed",
		"Whether vAdvisor is subscribed to libvirt's lifecycle events (1) or not (0).", nil, nil)
	subscriptionsDesc = prometheus.NewDesc("vadvisor_events_libvirt_subscriptions_total",
		"Subscriptions to libvirt's lifecycle events made; more than one means the connection was lost and events were reconciled.", nil, nil)
)

// Describe implements prometheus.Collector.
func (s *Subscriber) Describe(ch chan<- *prometheus.Desc) {
	ch <- subscribedDesc
	ch <- subscriptionsDesc
}

// Collect implements prometheus.Collector.
func (s *Subscriber) Collect(ch chan<- prometheus.Metric) {
	subscribed := 0.0
	if s.subscribed.Load() {
		subscribed = 1
	}
	ch <- prometheus.MustNewConstMetric(subscribedDesc, prometheus.GaugeValue, subscribed)
	ch <- prometheus.MustNewConstMetric(subscriptionsDesc, prometheus.CounterValue, float64(s.subscriptions.Load()))
}
