package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"

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

// getLoop is a client that GETs one URL back to back until stopped.
type getLoop struct {
	url     string
	header  http.Header
	contain []byte // counted in hits when a body contains it

	n, errs, hits int
	times         []time.Duration
	lastErr       string
	lastBody      []byte
}

func (g *getLoop) run(ctx context.Context, client *http.Client) {
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.url, nil)
		maps := g.header.Clone()
		if maps != nil {
			req.Header = maps
		}
		start := time.Now()
		resp, err := client.Do(req)
		var body []byte
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("%s", resp.Status)
			}
		}
		if ctx.Err() != nil {
			return // cut short by the end of the measurement
		}
		g.n++
		if err != nil {
			g.errs++
			g.lastErr = err.Error()
			time.Sleep(100 * time.Millisecond)
			continue
		}
		g.times = append(g.times, time.Since(start))
		if g.contain != nil && bytes.Contains(body, g.contain) {
			g.hits++
		}
		g.lastBody = body
	}
}

func (g *getLoop) summary() string {
	if len(g.times) == 0 {
		return fmt.Sprintf("%d requests, none answered (%s)", g.n, g.lastErr)
	}
	times := append([]time.Duration(nil), g.times...)
	median, _ := percentiles(times)
	s := fmt.Sprintf("%d requests, median %s, max %s", g.n, ms(median), ms(times[len(times)-1]))
	if g.errs > 0 {
		s += fmt.Sprintf(", %d failed (last: %s)", g.errs, g.lastErr)
	}
	return s
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
	domains    string // libvirt_domains of vadvisor's last scrape
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
	defer undefineLeftover(gen)
	bench := newEventLog()
	msgs, err := listener.LifecycleEvents(ctx)
	if err != nil {
		return fmt.Errorf("subscribing to lifecycle events: %w", err)
	}
	go func() {
		for msg := range msgs {
			at := time.Now()
			bench.add(eventKey{uuidString(msg.Dom.UUID), events.Type(msg.Event).String()}, at)
		}
	}()

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "--web.listen-address="+addr, "--libvirt.uri="+systemURI)
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if err := waitListening(addr); err != nil {
		return err
	}
	base := "http://" + addr
	logf("events: waiting for vadvisor to subscribe to lifecycle events")
	if err := waitMetric(base+"/metrics", "vadvisor_events_libvirt_subscribed", "1", 30*time.Second); err != nil {
		return err
	}

	// The stream clients, each on its own connection, uncompressed.
	streamTransport := &http.Transport{DisableCompression: true}
	defer streamTransport.CloseIdleConnections()
	streams := make([]*eventLog, *eventClients)
	for i := range streams {
		streams[i] = newEventLog()
		if err := followStream(ctx, streamTransport, base+"/api/v1.0/events?stream=true", streams[i]); err != nil {
			return err
		}
	}
	readers := append([]*eventLog{bench}, streams...)

	// One event round trip before anything is measured.
	nonce := time.Now().UnixNano() & 0xffffffffffff
	warm := fmt.Sprintf("%08x-0000-4000-8000-%012x", 0xbe000000, nonce)
	if err := defineUndefine(gen, warm); err != nil {
		return err
	}
	if missing := waitEvents(readers, []eventKey{{warm, "Defined"}, {warm, "Undefined"}}, eventWait); missing > 0 {
		return fmt.Errorf("the warm-up events did not reach every reader within %s%s", eventWait, readerErrors(readers))
	}

	// The load: /metrics scraped as Prometheus does and the live stats,
	// each without pause.
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	r.metrics = &getLoop{
		url:     base + "/metrics",
		header:  http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {"10"}},
		contain: []byte(`libvirt_domain_timed_out{domain="` + r.hung + `"} 1`),
	}
	r.live = &getLoop{url: base + "/api/v1.0/stats/?live=true"}
	loadClient := &http.Client{Timeout: 30 * time.Second}
	var load sync.WaitGroup
	load.Go(func() { r.metrics.run(loadCtx, loadClient) })
	load.Go(func() { r.live.run(loadCtx, loadClient) })
	stopped := false
	endLoad := func() {
		if !stopped {
			stopped = true
			stopLoad()
			load.Wait()
		}
	}
	defer endLoad()

	// The hung guest: released again on every way out, a signal included.
	logf("events: hanging %s (SIGSTOP to QEMU pid %d)", r.hung, pid)
	release := hang(pid)
	defer release()
	// Let the hang strike: vadvisor's calls time out on it after its
	// --libvirt.timeout (3 s).
	time.Sleep(5 * time.Second)

	logf("events: %d events, one every %s, to %d stream clients", *eventCount, *eventSpacing, *eventClients)
	var keys []eventKey
	tick := time.NewTicker(*eventSpacing)
	var dom libvirt.Domain
	for i := range *eventCount {
		<-tick.C
		if i%2 == 0 {
			uuid := fmt.Sprintf("%08x-0000-4000-8000-%012x", 0xbe000000+i/2+1, nonce)
			dom, err = defineEventDomain(gen, uuid)
			if err != nil {
				tick.Stop()
				return err
			}
			keys = append(keys, eventKey{uuid, "Defined"})
		} else {
			if err := gen.DomainUndefine(dom); err != nil {
				tick.Stop()
				return fmt.Errorf("undefining %s: %w", eventDomain, err)
			}
			keys = append(keys, eventKey{keys[len(keys)-1].uuid, "Undefined"})
		}
	}
	tick.Stop()
	if len(keys)%2 == 1 {
		// An odd count leaves the domain defined: the undefine is not timed.
		if err := gen.DomainUndefine(dom); err != nil {
			return fmt.Errorf("undefining %s: %w", eventDomain, err)
		}
	}
	r.generated = len(keys)
	waitEvents(readers, keys, eventWait)
	endLoad()
	release()

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
	r.vadvisor = scrapeValues(base+"/metrics", "libvirt_domains", "vadvisor_events_libvirt_subscriptions_total",
		"vadvisor_events_stream_clients_dropped_total", "vadvisor_events_stream_clients")
	return nil
}

// followStream opens an event stream and notes each line's arrival in log
// until ctx ends.
func followStream(ctx context.Context, t *http.Transport, url string, log *eventLog) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := (&http.Client{Transport: t}).Do(req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	go func() {
		defer resp.Body.Close()
		br := bufio.NewReaderSize(resp.Body, 64<<10)
		for {
			line, err := br.ReadBytes('\n')
			at := time.Now()
			if err != nil {
				if ctx.Err() == nil {
					log.fail(fmt.Errorf("stream ended: %v", err))
				}
				return
			}
			if len(bytes.TrimSpace(line)) == 0 {
				continue // heartbeat
			}
			var ev struct {
				UUID       string `json:"domain_id"`
				Type       string `json:"event_type"`
				Reconciled bool   `json:"reconciled"`
				Error      string `json:"error"`
			}
			if err := json.Unmarshal(line, &ev); err != nil {
				log.fail(fmt.Errorf("bad line %q: %v", line, err))
				continue
			}
			if ev.Error != "" {
				log.fail(errors.New(ev.Error))
				continue
			}
			if ev.Reconciled {
				if strings.HasPrefix(ev.UUID, "be") {
					log.mu.Lock()
					log.reconciled++
					log.mu.Unlock()
				}
				continue
			}
			log.add(eventKey{ev.UUID, ev.Type}, at)
		}
	}()
	return nil
}

// waitEvents waits until every reader has every key, at most d; it returns
// how many (reader, key) pairs are still missing.
func waitEvents(readers []*eventLog, keys []eventKey, d time.Duration) int {
	deadline := time.Now().Add(d)
	for {
		missing := 0
		for _, r := range readers {
			for _, k := range keys {
				if _, ok := r.get(k); !ok {
					missing++
				}
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			return missing
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readerErrors(readers []*eventLog) string {
	var errs []string
	for i, r := range readers {
		r.mu.Lock()
		if r.err != nil {
			name := "the bench's own subscription"
			if i > 0 {
				name = fmt.Sprintf("stream client %d", i)
			}
			errs = append(errs, name+": "+r.err.Error())
		}
		r.mu.Unlock()
	}
	if len(errs) == 0 {
		return ""
	}
	return " (" + strings.Join(errs, "; ") + ")"
}

func dialLibvirt(socket, uri string) (*libvirt.Libvirt, error) {
	l := libvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(socket), dialers.WithLocalTimeout(5*time.Second)))
	if err := l.ConnectToURI(libvirt.ConnectURI(uri)); err != nil {
		return nil, fmt.Errorf("connecting to %s through %s: %w", uri, socket, err)
	}
	return l, nil
}

func defineEventDomain(l *libvirt.Libvirt, uuid string) (libvirt.Domain, error) {
	xml := fmt.Sprintf(`<domain type='qemu'><name>%s</name><uuid>%s</uuid><memory unit='MiB'>32</memory><vcpu>1</vcpu>`+
		`<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>`, eventDomain, uuid)
	dom, err := l.DomainDefineXML(xml)
	if err != nil {
		return dom, fmt.Errorf("defining %s: %w", eventDomain, err)
	}
	return dom, nil
}

func defineUndefine(l *libvirt.Libvirt, uuid string) error {
	dom, err := defineEventDomain(l, uuid)
	if err != nil {
		return err
	}
	if err := l.DomainUndefine(dom); err != nil {
		return fmt.Errorf("undefining %s: %w", eventDomain, err)
	}
	return nil
}

// undefineLeftover removes the event domain should an earlier run have
// left it defined.
func undefineLeftover(l *libvirt.Libvirt) error {
	dom, err := l.DomainLookupByName(eventDomain)
	if err != nil {
		return nil // not defined
	}
	if err := l.DomainUndefine(dom); err != nil {
		return fmt.Errorf("undefining a leftover %s: %w", eventDomain, err)
	}
	return nil
}

func uuidString(u libvirt.UUID) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// qemuPID is the pid of a running guest's QEMU, from libvirt's pid file.
func qemuPID(name string) (int, error) {
	data, err := os.ReadFile("/run/libvirt/qemu/" + name + ".pid")
	if err != nil {
		return 0, fmt.Errorf("%s does not run: %w", name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("pid file of %s: %w", name, err)
	}
	return pid, nil
}

// hang stops a process (SIGSTOP) and returns its release (SIGCONT), which
// may be called any number of times. An interrupt of the benchmark releases
// it too before the benchmark dies.
func hang(pid int) (release func()) {
	var once sync.Once
	sigs := make(chan os.Signal, 1)
	done := make(chan struct{})
	release = func() {
		once.Do(func() {
			syscall.Kill(pid, syscall.SIGCONT)
			signal.Stop(sigs)
			close(done)
		})
	}
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		select {
		case sig := <-sigs:
			syscall.Kill(pid, syscall.SIGCONT)
			fmt.Fprintf(os.Stderr, "bench: %v: released the hung guest (SIGCONT to %d)\n", sig, pid)
			os.Exit(1)
		case <-done:
		}
	}()
	syscall.Kill(pid, syscall.SIGSTOP)
	return release
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)`)

// scrapeValues reads the given series (name with labels, as written) from
// one scrape; a series not found is left out.
func scrapeValues(url string, names ...string) map[string]string {
	vals := map[string]string{}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return vals
	}
	defer resp.Body.Close()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if m := sampleLine.FindStringSubmatch(sc.Text()); m != nil && want[m[1]] {
			vals[m[1]] = m[2]
		}
	}
	return vals
}

// waitMetric waits until a series of url has the value want.
func waitMetric(url, name, want string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if scrapeValues(url, name)[name] == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not become %s within %s", name, want, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (r *eventsResult) print() {
	fmt.Printf("## Event delivery\n\n")
	if r.failed != "" {
		fmt.Printf("Failed: %s.\n", r.failed)
		return
	}
	fmt.Printf("%d lifecycle events (%s defined and undefined alternately through the read-write socket, one event every %s) "+
		"to %d stream clients of `/api/v1.0/events?stream=true`, vadvisor at default flags on %s (%s domains), "+
		"while %s was hung (SIGSTOP to its QEMU) and, without pause, one client scraped `/metrics` "+
		"(%s; %d of them showed %s timed out) and one read `/api/v1.0/stats/?live=true` (%s). "+
		"Load average %s before, %s after.\n\n",
		r.generated, eventDomain, *eventSpacing, *eventClients, systemURI, orDash(r.vadvisor["libvirt_domains"]),
		r.hung, r.metrics.summary(), r.metrics.hits, r.hung, r.live.summary(), r.loadStart, r.loadEnd)
	fmt.Println("Latency of an event: the last of the stream clients reading its line, less the benchmark's own go-libvirt connection handing it over.")
	fmt.Println()
	fmt.Println("| events | delivered to every client | p50 | p99 | max | min |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|")
	if len(r.latencies) == 0 {
		fmt.Printf("| %d | 0 | - | - | - | - |\n", r.generated)
	} else {
		l := r.latencies
		p50, p99 := l[len(l)/2], l[min((len(l)*99+99)/100-1, len(l)-1)]
		fmt.Printf("| %d | %d | %s | %s | %s | %s |\n", r.generated, len(l), ms(p50), ms(p99), ms(l[len(l)-1]), ms(l[0]))
	}
	fmt.Println()
	if r.missing > 0 {
		fmt.Printf("%d events did not reach every client within %s (first: %s).\n\n", r.missing, eventWait, r.missingEx)
	}
	if len(r.slowest) > 0 {
		var s []string
		for _, e := range r.slowest {
			s = append(s, fmt.Sprintf("%s (event %d, %.1f s in)", ms(e.latency), e.index, e.at.Seconds()))
		}
		fmt.Printf("Slowest: %s.\n\n", strings.Join(s, ", "))
	}
	fmt.Printf("vadvisor afterwards: vadvisor_events_libvirt_subscriptions_total %s, vadvisor_events_stream_clients_dropped_total %s; "+
		"%d reconciled lines for the generated domains.\n\n",
		orDash(r.vadvisor["vadvisor_events_libvirt_subscriptions_total"]), orDash(r.vadvisor["vadvisor_events_stream_clients_dropped_total"]), r.reconciled)
	if len(r.latencies) > 0 {
		l := r.latencies
		p99 := l[min((len(l)*99+99)/100-1, len(l)-1)]
		mark := "MET"
		if p99 >= eventTarget || r.missing > 0 {
			mark = "MISSED"
		}
		fmt.Printf("Target:\n- %s: event delivery p99 under %s (%s, %d of %d delivered)\n", mark, ms(eventTarget), ms(p99), len(l), r.generated)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
