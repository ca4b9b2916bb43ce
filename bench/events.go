package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os/exec"
	"sort"
	"sync"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/events"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

// The events part: how long a lifecycle event takes from libvirt to every
// stream client of vadvisor's /api/v1.0/events?stream=true, while a guest
// is hung and /metrics and the live stats are read without pause.
//
// Nothing inside vadvisor is instrumented. The benchmark holds a go-libvirt
// connection of its own, subscribed to the lifecycle events, and notes when
// go-libvirt hands each event over; its stream clients note when each line
// arrives. An event's latency is the latest of its lines less that handover,
// matched by domain uuid and event type. The events are made by defining
// and undefining eventDomain (never started) through the read-write socket,
// with a fresh uuid for every definition, so that each (uuid, type) occurs
// once.

var (
	eventCount   = flag.Int("events", 200, "events part: lifecycle events to time (define and undefine of "+eventDomain+", alternately)")
	eventClients = flag.Int("event-clients", 5, "events part: stream clients of /api/v1.0/events?stream=true")
	eventSpacing = flag.Duration("event-spacing", 50*time.Millisecond, "events part: time between two generated events")
)

const (
	eventDomain = "vadv-bev1"
	rwSocket    = "/var/run/libvirt/libvirt-sock"
	// eventTarget is issue 11's target for the p99 of the delivery latency.
	eventTarget = 50 * time.Millisecond
	// eventWait bounds the wait for an event that has not arrived yet.
	eventWait = 10 * time.Second
)

type eventKey struct{ uuid, typ string }

// eventLog notes when each event was first seen by one reader.
type eventLog struct {
	mu         sync.Mutex
	seen       map[eventKey]time.Time
	reconciled int
	err        error
}

func newEventLog() *eventLog { return &eventLog{seen: map[eventKey]time.Time{}} }

func (l *eventLog) add(k eventKey, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.seen[k]; !ok {
		l.seen[k] = at
	}
}

func (l *eventLog) get(k eventKey) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	at, ok := l.seen[k]
	return at, ok
}

func (l *eventLog) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = err
	}
}

// slowEvent is an event of the tail: its latency, its place in the
// sequence and when it was handed over, counted from the first one.
type slowEvent struct {
	latency time.Duration
	index   int
	at      time.Duration
}

type eventsResult struct {
	failed     string
	hung       string
	generated  int
	latencies  []time.Duration // sorted, of the events every client got
	slowest    []slowEvent     // the slowest few, slowest first
	missing    int
	missingEx  string
	reconciled int // reconciled lines of the generated domains, all clients
	metrics    *getLoop
	live       *getLoop
	vadvisor   map[string]string // a few of vadvisor's own metrics at the end
	loadStart  string
	loadEnd    string
}

// eventsPart measures the delivery latency; its errors end up in the report.
func eventsPart(bin string) *eventsResult {
	r := &eventsResult{loadStart: loadAvg()}
	if err := r.measure(bin); err != nil {
		r.failed = err.Error()
	}
	r.loadEnd = loadAvg()
	return r
}

func (r *eventsResult) measure(bin string) error {
	if *guests < 1 {
		return errors.New("needs a running guest to hang (-guests 1 at least)")
	}
	if *eventCount < 2 || *eventClients < 1 {
		return errors.New("needs -events 2 and -event-clients 1 at least")
	}
	r.hung = guestPrefix + "1"
	pid, err := qemuPID(r.hung)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// libvirt: one connection makes the events, one notes their handover.
	gen, err := dialLibvirt(rwSocket, systemURI)
	if err != nil {
		return err
	}
	defer gen.Disconnect()
	listener, err := dialLibvirt(libvirtconn.ReadOnlySocket, systemURI)
	if err != nil {
		return err
	}
	defer listener.Disconnect()
	if err := undefineLeftover(gen); err != nil {
		return err
	}
	defer func() { _ = undefineLeftover(gen) }()
	bench, err := noteHandovers(ctx, listener)
	if err != nil {
		return err
	}

	base, stop, err := startSubscribed(bin)
	if err != nil {
		return err
	}
	defer stop()
	// The stream clients, each on its own connection, uncompressed.
	streamTransport := &http.Transport{DisableCompression: true}
	defer streamTransport.CloseIdleConnections()
	streams, err := followStreams(ctx, streamTransport, base+"/api/v1.0/events?stream=true", *eventClients)
	if err != nil {
		return err
	}
	readers := append([]*eventLog{bench}, streams...)
	nonce := time.Now().UnixNano() & 0xffffffffffff
	if err := warmUp(gen, nonce, readers); err != nil {
		return err
	}

	endLoad := r.startLoad(ctx, base)
	defer endLoad()
	// The hung guest: released again on every way out, a signal included.
	logf("events: hanging %s (SIGSTOP to QEMU pid %d)", r.hung, pid)
	release := hang(pid)
	defer release()
	// Let the hang strike: vadvisor's calls time out on it after its
	// --libvirt.timeout (3 s).
	time.Sleep(5 * time.Second)

	keys, err := generateEvents(gen, nonce)
	if err != nil {
		return err
	}
	r.generated = len(keys)
	waitEvents(readers, keys, eventWait)
	endLoad()
	release()

	r.tally(keys, readers)
	r.vadvisor = scrapeValues(base+"/metrics", "libvirt_domains", "vadvisor_events_libvirt_subscriptions_total",
		"vadvisor_events_stream_clients_dropped_total", "vadvisor_events_stream_clients")
	return nil
}

// noteHandovers subscribes l to the lifecycle events and notes when
// go-libvirt hands each over, until ctx ends.
func noteHandovers(ctx context.Context, l *libvirt.Libvirt) (*eventLog, error) {
	msgs, err := l.LifecycleEvents(ctx)
	if err != nil {
		return nil, fmt.Errorf("subscribing to lifecycle events: %w", err)
	}
	log := newEventLog()
	go func() {
		for msg := range msgs {
			at := time.Now()
			log.add(eventKey{uuidString(msg.Dom.UUID), events.Type(msg.Event).String()}, at)
		}
	}()
	return log, nil
}

// startSubscribed starts vadvisor at default flags on the system
// connection and waits until it has subscribed to lifecycle events; stop
// ends it.
func startSubscribed(bin string) (base string, stop func(), err error) {
	addr, err := freeAddr()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "--web.listen-address="+addr, "--libvirt.uri="+systemURI)
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() { cmd.Process.Kill(); cmd.Wait() }
	if err := waitListening(addr); err != nil {
		stop()
		return "", nil, err
	}
	base = "http://" + addr
	logf("events: waiting for vadvisor to subscribe to lifecycle events")
	if err := waitMetric(base+"/metrics", "vadvisor_events_libvirt_subscribed", "1", 30*time.Second); err != nil {
		stop()
		return "", nil, err
	}
	return base, stop, nil
}

// warmUp makes one event round trip before anything is measured: a
// definition and its undefinition reach every reader.
func warmUp(gen *libvirt.Libvirt, nonce int64, readers []*eventLog) error {
	warm := eventUUID(0, nonce)
	if err := defineUndefine(gen, warm); err != nil {
		return err
	}
	if missing := waitEvents(readers, []eventKey{{warm, "Defined"}, {warm, "Undefined"}}, eventWait); missing > 0 {
		return fmt.Errorf("the warm-up events did not reach every reader within %s%s", eventWait, readerErrors(readers))
	}
	return nil
}

// eventUUID is the uuid of the i-th definition of eventDomain in a run
// (0 for the warm-up); nonce sets the run apart from earlier ones.
func eventUUID(i int, nonce int64) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", 0xbe000000+i, nonce)
}

// generateEvents defines and undefines eventDomain alternately, one event
// every -event-spacing, -events in all, and returns the events' keys in
// order.
func generateEvents(gen *libvirt.Libvirt, nonce int64) ([]eventKey, error) {
	logf("events: %d events, one every %s, to %d stream clients", *eventCount, *eventSpacing, *eventClients)
	var keys []eventKey
	tick := time.NewTicker(*eventSpacing)
	defer tick.Stop()
	var dom libvirt.Domain
	var err error
	for i := range *eventCount {
		<-tick.C
		if i%2 == 0 {
			uuid := eventUUID(i/2+1, nonce)
			if dom, err = defineEventDomain(gen, uuid); err != nil {
				return nil, err
			}
			keys = append(keys, eventKey{uuid, "Defined"})
		} else {
			if err := gen.DomainUndefine(dom); err != nil {
				return nil, fmt.Errorf("undefining %s: %w", eventDomain, err)
			}
			keys = append(keys, eventKey{keys[len(keys)-1].uuid, "Undefined"})
		}
	}
	if len(keys)%2 == 1 {
		// An odd count leaves the domain defined: the undefine is not timed.
		if err := gen.DomainUndefine(dom); err != nil {
			return nil, fmt.Errorf("undefining %s: %w", eventDomain, err)
		}
	}
	return keys, nil
}

// tally matches the events the benchmark saw handed over (readers[0])
// with the lines of every stream client (the other readers): an event's
// latency is from its handover to the last client's line; an event some
// reader lacks is missing.
func (r *eventsResult) tally(keys []eventKey, readers []*eventLog) {
	bench, streams := readers[0], readers[1:]
	var first time.Time
	for _, k := range keys {
		if at, ok := bench.get(k); ok && (first.IsZero() || at.Before(first)) {
			first = at
		}
	}
	var all []slowEvent
	for i, k := range keys {
		handed, ok := bench.get(k)
		var last time.Time
		for _, s := range streams {
			at, got := s.get(k)
			ok = ok && got
			if at.After(last) {
				last = at
			}
		}
		if !ok {
			r.missing++
			if r.missingEx == "" {
				r.missingEx = k.typ + " of " + k.uuid
			}
			continue
		}
		r.latencies = append(r.latencies, last.Sub(handed))
		all = append(all, slowEvent{last.Sub(handed), i + 1, handed.Sub(first)})
	}
	sort.Slice(r.latencies, func(i, j int) bool { return r.latencies[i] < r.latencies[j] })
	sort.Slice(all, func(i, j int) bool { return all[i].latency > all[j].latency })
	r.slowest = all[:min(5, len(all))]
	for _, s := range streams {
		s.mu.Lock()
		r.reconciled += s.reconciled
		s.mu.Unlock()
	}
	if r.missing > 0 {
		r.missingEx += readerErrors(readers)
	}
}
