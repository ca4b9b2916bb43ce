package events

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vadvisor/vadvisor/internal/outage"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

// The subscriber's connection loop: subscribe, list, follow the events
// until the subscription ends, and again. What it knows of the domains,
// and how a difference becomes events, is in state.go; the listing is in
// list.go.

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
	retry := minRetry
	var failures outage.Log
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
			failures.Failed(s.logger, "cannot subscribe to lifecycle events, retrying", "still cannot subscribe to lifecycle events",
				"err", err, "retry", retry)
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
			retry = min(2*retry, maxRetry)
			continue
		}
		retry = minRetry
		failures.Ended()
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
// checkEvery after the end of each check, it also compares known with a
// listing made on a goroutine of its own (check). See docs/design.md,
// "The events' state check".
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
