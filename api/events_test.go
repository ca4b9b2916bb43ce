package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vadvisor/vadvisor/events"
	"github.com/vadvisor/vadvisor/internal/testbed"
)

// evLine is an event as a client decodes it.
type evLine struct {
	DomainName string    `json:"domain_name"`
	DomainID   string    `json:"domain_id"`
	Timestamp  time.Time `json:"timestamp"`
	EventType  string    `json:"event_type"`
	Reason     string    `json:"reason"`
	ID         uint64    `json:"id"`
	Reconciled bool      `json:"reconciled"`
}

func (e evLine) String() string { return e.EventType + "/" + e.Reason }

// maxEvents is main's --events.max-events default.
const maxEvents = 100000

// newEvents is NewEvents with main's defaults (--events.heartbeat 15s,
// --events.stream-buffer 1000) for the options opts leaves zero.
func newEvents(t testing.TB, ctx context.Context, store *events.Store, opts EventsOptions, logger *slog.Logger) *Events {
	t.Helper()
	if opts.Heartbeat == 0 {
		opts.Heartbeat = 15 * time.Second
	}
	if opts.StreamBuffer == 0 {
		opts.StreamBuffer = 1000
	}
	e, err := NewEvents(ctx, store, opts, logger)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestNewEventsRejectsBadOptions(t *testing.T) {
	store := mustStore(t, time.Hour, 10)
	for _, opts := range []EventsOptions{{Heartbeat: 0, StreamBuffer: 1}, {Heartbeat: -time.Second, StreamBuffer: 1}, {Heartbeat: time.Second, StreamBuffer: 0}} {
		if _, err := NewEvents(t.Context(), store, opts, testbed.Logger(t)); err == nil {
			t.Errorf("NewEvents(%+v) accepted", opts)
		}
	}
}

// eventsServer serves store over real HTTP; the API's lifetime context
// is cancelled by stop (and when the test ends).
func eventsServer(t *testing.T, store *events.Store, opts EventsOptions) (srv *httptest.Server, stop context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	mux := http.NewServeMux()
	newEvents(t, ctx, store, opts, testbed.Logger(t)).Register(mux)
	srv = httptest.NewServer(mux)
	t.Cleanup(func() { cancel(); srv.Close() })
	return srv, cancel
}

func mustStore(t testing.TB, maxAge time.Duration, maxCount int) *events.Store {
	t.Helper()
	store, err := events.NewStore(maxAge, maxCount)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// liveEvents subscribes a store to the real libvirtd.
func liveEvents(t *testing.T) (*events.Store, *events.Subscriber) {
	t.Helper()
	conn := testbed.Conn(t, testbed.SystemURI)
	store := mustStore(t, time.Hour, maxEvents)
	sub := events.NewSubscriber(conn, store, testbed.Logger(t))
	testbed.RunUntilCleanup(t, sub.Run)
	waitFor(t, 10*time.Second, "the event subscription", sub.Subscribed)
	return store, sub
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// history GETs the events and decodes them.
func getHistory(t *testing.T, srv *httptest.Server, query string) []evLine {
	t.Helper()
	resp, err := historyClient.Get(srv.URL + eventsPath + "?" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("GET ?%s: %s, %s: %s", query, resp.Status, resp.Header.Get("Content-Type"), body)
	}
	var out []evLine
	for _, l := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		if l == "" {
			continue
		}
		var e evLine
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		out = append(out, e)
	}
	return out
}

var (
	historyClient = &http.Client{Timeout: 10 * time.Second}
	// A stream has no end, but its headers come at once.
	streamClient = &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 5 * time.Second}}
)

// stream is an open event stream read line by line.
type stream struct {
	resp  *http.Response
	lines chan string
}

func openStream(t *testing.T, client *http.Client, srv *httptest.Server, query string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+eventsPath+"?stream=true&"+query, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream ?%s: %s %s: %s", query, resp.Status, resp.Header.Get("Content-Type"), body)
	}
	s := &stream{resp: resp, lines: make(chan string, 1<<20)}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	return s
}

// next returns the next line; ok is false at the end of the stream.
func (s *stream) next(t *testing.T, timeout time.Duration) (line string, ok bool) {
	t.Helper()
	select {
	case l, ok := <-s.lines:
		return l, ok
	case <-time.After(timeout):
		t.Fatalf("no line within %s", timeout)
		return "", false
	}
}

// events reads until it has n events of the domain, skipping heartbeats
// and other domains' events (other tests share the daemon).
func (s *stream) events(t *testing.T, domain string, n int, timeout time.Duration) []evLine {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var got []evLine
	for len(got) < n {
		l, ok := s.next(t, time.Until(deadline))
		if !ok {
			t.Fatalf("stream ended after %v", got)
		}
		if l == "" {
			continue
		}
		var e evLine
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if domain == "" || e.DomainName == domain {
			got = append(got, e)
		}
	}
	return got
}

func names(evs []evLine) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.String())
	}
	return strings.Join(s, " ")
}

func TestEventsOfRealGuests(t *testing.T) {
	guest := testbed.Guests(t, "vadv-ev", 1)[0]
	const fresh = "vadv-evtmp"
	_ = testbed.TryVirsh("undefine", fresh) // left by an earlier run, if any
	store, _ := liveEvents(t)
	srv, _ := eventsServer(t, store, EventsOptions{})
	live := openStream(t, streamClient, srv, "")
	t.Cleanup(func() { _ = testbed.TryVirsh("undefine", fresh) })
	xml := filepathTemp(t, "<domain type='qemu'><name>"+fresh+"</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"+
		"<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>")

	steps := []struct {
		domain string
		virsh  []string
		want   string
	}{
		{guest, []string{"suspend", guest}, "Suspended/Paused"},
		{guest, []string{"resume", guest}, "Resumed/Unpaused"},
		{guest, []string{"destroy", guest}, "Shutdown/Host Stopped/Destroyed"},
		{guest, []string{"start", guest}, "Resumed/Unpaused Started/Booted"},
		{fresh, []string{"define", xml}, "Defined/Added"},
		{fresh, []string{"undefine", fresh}, "Undefined/Removed"},
	}
	for _, step := range steps {
		before := time.Now()
		if err := testbed.TryVirsh(step.virsh...); err != nil {
			t.Fatal(err)
		}
		done := time.Now()
		n := len(strings.Fields(step.want))
		got := live.events(t, step.domain, n, 10*time.Second)
		if names(got) != step.want {
			t.Errorf("virsh %s: stream got %s, want %s", strings.Join(step.virsh, " "), names(got), step.want)
		}
		uuid := testbed.Virsh(t, "domuuid", guest)
		if step.domain == fresh {
			uuid = got[0].DomainID // gone by now; checked against the history instead
		}
		for _, e := range got {
			if e.DomainID != uuid || e.Reconciled || e.Timestamp.Before(before.Add(-time.Millisecond)) || e.Timestamp.After(done.Add(time.Second)) {
				t.Errorf("virsh %s: event %+v (want domain_id %s, a time within the command)", strings.Join(step.virsh, " "), e, uuid)
			}
		}
		var hist []evLine
		for _, e := range getHistory(t, srv, "max_events=1000&start_time="+url.QueryEscape(before.UTC().Format(time.RFC3339Nano))) {
			if e.DomainName == step.domain {
				hist = append(hist, e)
			}
		}
		if fmt.Sprint(hist) != fmt.Sprint(got) {
			t.Errorf("virsh %s: history has %v, the stream had %v", strings.Join(step.virsh, " "), hist, got)
		}
	}
}

func filepathTemp(t *testing.T, content string) string {
	path := t.TempDir() + "/domain.xml"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// seeded is a store with one event of each type, a millisecond apart,
// for domains vm0..vm2.
func seeded(t *testing.T) (*events.Store, []events.Event) {
	store := mustStore(t, time.Hour, 1000)
	var evs []events.Event
	for i := 0; i < 27; i++ {
		evs = append(evs, store.Add(events.Event{Type: events.Type(i % 9), DomainName: "vm" + strconv.Itoa(i%3), DomainUUID: "uuid-" + strconv.Itoa(i%3)}))
		time.Sleep(time.Millisecond)
	}
	return store, evs
}

func idsOf(evs []evLine) []uint64 {
	var out []uint64
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

func TestEventsHistoryQueries(t *testing.T) {
	store, evs := seeded(t)
	srv, _ := eventsServer(t, store, EventsOptions{})
	id := func(is ...int) []uint64 {
		var out []uint64
		for _, i := range is {
			out = append(out, evs[i].ID)
		}
		return out
	}
	at := func(i int, layout string, loc *time.Location) string {
		return url.QueryEscape(evs[i].Time.In(loc).Format(layout))
	}
	plus2 := time.FixedZone("", 2*3600)
	cases := []struct {
		query string
		want  []uint64
	}{
		{"", id(17, 18, 19, 20, 21, 22, 23, 24, 25, 26)},
		{"max_events=3", id(24, 25, 26)},
		{"started_events=true&max_events=100", id(2, 11, 20)},
		{"started_events=true&crashed_events=true&stopped_events=false", id(2, 8, 11, 17, 20, 26)},
		{"pmsuspended_events=true&all_events=true&max_events=2", id(25, 26)},
		{"all_events=false&max_events=2", id(25, 26)},
		{"defined_events=true&undefined_events=true&suspended_events=true&resumed_events=true&shutdown_events=true&max_events=100", id(0, 1, 3, 4, 6, 9, 10, 12, 13, 15, 18, 19, 21, 22, 24)},
		{"start_time=" + at(3, time.RFC3339Nano, time.UTC) + "&end_time=" + at(5, time.RFC3339Nano, time.UTC), id(3, 4, 5)},
		{"start_time=" + at(3, time.RFC3339Nano, plus2) + "&end_time=" + at(5, time.RFC3339Nano, plus2), id(3, 4, 5)},
		{"start_time=" + at(3, "2006-01-02T15:04:05.999999999", time.UTC) + "&end_time=" + at(5, "2006-01-02T15:04:05.999999999", time.UTC), id(3, 4, 5)},
		// An unencoded "+" of an offset arrives as a space and is still read.
		{"end_time=" + strings.Replace(evs[1].Time.In(plus2).Format(time.RFC3339Nano), "+", "%20", 1), id(0, 1)},
		{"start_time=" + at(20, time.RFC3339Nano, time.UTC) + "&max_events=2&stopped_events=true", id(23)},
		{"since=" + strconv.FormatUint(evs[24].ID, 10), id(25, 26)},
		{"end_time=2000-01-01T00:00:00Z", nil},
	}
	for _, tc := range cases {
		if got := idsOf(getHistory(t, srv, tc.query)); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("?%s: got %v, want %v", tc.query, got, tc.want)
		}
	}
	got := getHistory(t, srv, "max_events=1")
	want := evLine{DomainName: "vm2", DomainID: "uuid-2", Timestamp: evs[26].Time, EventType: "Crashed", Reason: "Panicked", ID: evs[26].ID}
	if len(got) != 1 || got[0] != want {
		t.Errorf("last event %+v, want %+v", got, want)
	}
}

func TestEventsBadParameters(t *testing.T) {
	srv, _ := eventsServer(t, mustStore(t, time.Hour, 10), EventsOptions{})
	cases := []struct{ query, param string }{
		{"stream=yes", "stream"},
		{"stream=", "stream"},
		{"stream=TRUE", "stream"},
		{"all_events=1", "all_events"},
		{"crashed_events=on", "crashed_events"},
		{"started_events", "started_events"},
		{"start_time=yesterday", "start_time"},
		{"end_time=2026-13-01T00:00:00Z", "end_time"},
		{"start_time=1732390000", "start_time"},
		{"max_events=0", "max_events"},
		{"max_events=-5", "max_events"},
		{"max_events=ten", "max_events"},
		{"max_events=1.5", "max_events"},
		{"since=-1", "since"},
		{"since=abc", "since"},
		{"max_events=5&max_events=6", "max_events"},
		{"maxevents=5", "maxevents"},
		{"started_event=true", "started_event"},
		{"stream=true&max_events=5", "max_events"},
		{"stream=true&start_time=2026-11-23T00:00:00Z", "start_time"},
		{"start_time=2026-11-23T01:00:00Z&end_time=2026-11-23T00:00:00Z", "start_time"},
		{"max_events=%zz", "malformed"},
	}
	for _, tc := range cases {
		resp, err := historyClient.Get(srv.URL + eventsPath + "?" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error string }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/json" || err != nil || !strings.Contains(body.Error, tc.param) {
			t.Errorf("?%s: %s %s, error %q (%v); want 400 with a JSON error naming %s", tc.query, resp.Status, resp.Header.Get("Content-Type"), body.Error, err, tc.param)
		}
	}
	resp, err := historyClient.Post(srv.URL+eventsPath, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s", resp.Status)
	}
}

func TestEventsStreamFiltersAndResume(t *testing.T) {
	store, evs := seeded(t)
	srv, _ := eventsServer(t, store, EventsOptions{})
	// Headers arrive before any event does.
	started := openStream(t, streamClient, srv, "started_events=true")
	all := openStream(t, streamClient, srv, "")
	resumed := openStream(t, streamClient, srv, "since="+strconv.FormatUint(evs[20].ID, 10))
	var added []events.Event
	for _, typ := range []events.Type{events.Stopped, events.Started, events.Type(12)} {
		added = append(added, store.Add(events.Event{Type: typ, Detail: 42, DomainName: "vm", DomainUUID: "u"}))
	}
	if got := started.events(t, "", 1, 5*time.Second); got[0].ID != added[1].ID || got[0].String() != "Started/Unknown(42)" {
		t.Errorf("started_events stream got %+v, want %+v", got, added[1])
	}
	if got := all.events(t, "", 3, 5*time.Second); names(got) != "Stopped/Unknown(42) Started/Unknown(42) Unknown(12)/Unknown(42)" {
		t.Errorf("unfiltered stream got %s", names(got))
	}
	// Resuming replays 21..26 from the store, then goes live: no gap, no
	// duplicate.
	got := idsOf(resumed.events(t, "", 9, 5*time.Second))
	for i, id := range got {
		if id != evs[21].ID+uint64(i) {
			t.Fatalf("resumed stream got IDs %v, want %d.. in a row", got, evs[21].ID)
		}
	}
}

func TestEventsStreamHeartbeat(t *testing.T) {
	srv, _ := eventsServer(t, mustStore(t, time.Hour, 10), EventsOptions{Heartbeat: 50 * time.Millisecond})
	// From before the stream opens: a busy host may delay this test, never
	// the heartbeats' pace, so that the third cannot be there in 100 ms.
	start := time.Now()
	s := openStream(t, streamClient, srv, "")
	for i := 0; i < 3; i++ {
		if l, _ := s.next(t, time.Second); l != "" {
			t.Fatalf("heartbeat %q, want an empty line", l)
		}
	}
	// Each came within a second (next's bound); none came early.
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("3 heartbeats took %s at a 50ms interval", d)
	}
}

// A client that reads nothing is disconnected once it is StreamBuffer
// events behind, without holding up the store or a client that keeps up;
// its last line says where to resume, and resuming there loses nothing.
func TestEventsStreamLagLimit(t *testing.T) {
	store := mustStore(t, time.Hour, 500000)
	srv, _ := eventsServer(t, store, EventsOptions{StreamBuffer: 256, WriteTimeout: time.Minute})
	// A small receive window, so that the socket buffers fill soon.
	stuckClient := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}).DialContext}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+eventsPath+"?stream=true", nil)
	stuck, err := stuckClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Body.Close()
	keeper := openStream(t, streamClient, srv, "")

	// In bursts of 50 a millisecond apart, which a client that reads
	// keeps up with. A store that waited for the stuck client would never
	// get through them: it would wait for the write timeout (a minute).
	// The events are 1 KB lines, 8 MB in all: more than the socket
	// buffers can hold (the kernel grows a send buffer to 4 MB at most).
	const n = 8000
	name := strings.Repeat("v", 1000)
	first := store.Add(events.Event{Type: events.Started, DomainName: name, DomainUUID: "u"})
	added := make(chan struct{})
	go func() {
		defer close(added)
		for i := 1; i < n; i++ {
			store.Add(events.Event{Type: events.Started, DomainName: name, DomainUUID: "u"})
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	select {
	case <-added:
	case <-time.After(30 * time.Second):
		t.Fatal("storing the events did not end: a stream holds up the store")
	}
	waitFor(t, 5*time.Second, "dropped client", func() bool {
		return testutil.CollectAndCompare(store, strings.NewReader(`
# HELP vadvisor_events_stream_clients_dropped_total Event stream clients disconnected for falling too far behind.
# TYPE vadvisor_events_stream_clients_dropped_total counter
vadvisor_events_stream_clients_dropped_total 1
`), "vadvisor_events_stream_clients_dropped_total") == nil
	})
	// The client that kept up got everything.
	kept := keeper.events(t, "", n, 10*time.Second)
	if kept[0].ID != first.ID || kept[n-1].ID != first.ID+n-1 {
		t.Errorf("the client that kept up got IDs %d..%d, want %d..%d", kept[0].ID, kept[n-1].ID, first.ID, first.ID+n-1)
	}

	// Now the stuck client reads what reached it: events in a row, then
	// the error line.
	sc := bufio.NewScanner(stuck.Body)
	var last uint64
	var final string
	for sc.Scan() {
		var e struct {
			ID    uint64
			Error string
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if e.Error != "" {
			final = e.Error
			break
		}
		if (last == 0 && e.ID != first.ID) || (last != 0 && e.ID != last+1) {
			t.Fatalf("stuck client got ID %d after %d", e.ID, last)
		}
		last = e.ID
	}
	if want := "resume with since=" + strconv.FormatUint(last, 10); !strings.Contains(final, want) {
		t.Fatalf("final line %q, want one containing %q (after ID %d)", final, want, last)
	}
	if last >= first.ID+n-1 {
		t.Fatalf("the stuck client got all %d events: the test did not make it lag", n)
	}
	if sc.Scan() {
		t.Errorf("line after the error line: %q", sc.Text())
	}
	// Resuming where it says replays the rest.
	s := openStream(t, streamClient, srv, "since="+strconv.FormatUint(last, 10))
	rest := s.events(t, "", int(first.ID+n-1-last), 10*time.Second)
	if rest[0].ID != last+1 || rest[len(rest)-1].ID != first.ID+n-1 {
		t.Errorf("resume replayed %d..%d, want %d..%d", rest[0].ID, rest[len(rest)-1].ID, last+1, first.ID+n-1)
	}
}

// Streams end when the client goes, and when the API's context ends, so
// that a graceful shutdown never waits for them.
func TestEventsStreamEnds(t *testing.T) {
	store := mustStore(t, time.Hour, 10)
	srv, stop := eventsServer(t, store, EventsOptions{})
	clients := func(n int) bool {
		return testutil.CollectAndCompare(store, streamClients(n), "vadvisor_events_stream_clients") == nil
	}

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+eventsPath+"?stream=true", nil)
	resp, err := streamClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "connected client", func() bool { return clients(1) })
	cancel()
	resp.Body.Close()
	waitFor(t, 5*time.Second, "client gone", func() bool { return clients(0) })

	s := openStream(t, streamClient, srv, "")
	stop()
	if l, ok := s.next(t, 5*time.Second); ok {
		t.Errorf("got %q after shutdown, want the end of the stream", l)
	}
	shutdown, cancelShutdown := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancelShutdown()
	if err := srv.Config.Shutdown(shutdown); err != nil {
		t.Errorf("graceful shutdown: %v", err)
	}
}

// streamClients is the exposition of n connected stream clients.
func streamClients(n int) io.Reader {
	return strings.NewReader(`# HELP vadvisor_events_stream_clients Event stream clients connected.
# TYPE vadvisor_events_stream_clients gauge
vadvisor_events_stream_clients ` + strconv.Itoa(n) + "\n")
}

// A guest killed while libvirtd is down shows up in the history as a
// reconciled Stopped event, and live events flow again afterwards.
func TestEventsAcrossLibvirtdRestart(t *testing.T) {
	testbed.Exclusive(t)
	guests := testbed.Guests(t, "vadv-ev", 4)
	victim, frozen, restarted, other := guests[0], guests[1], guests[2], guests[3]
	victimUUID := testbed.Virsh(t, "domuuid", victim)
	qemuPid := func(name string) string {
		pid, err := os.ReadFile("/run/libvirt/qemu/" + name + ".pid")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(pid))
	}
	frozenPid, restartedPid := qemuPid(frozen), qemuPid(restarted)
	t.Cleanup(func() {
		_ = exec.Command("kill", "-9", frozenPid, restartedPid).Run()
		testbed.Guests(t, "vadv-ev", 4) // restarts the killed guests
	})
	store, sub := liveEvents(t)
	srv, _ := eventsServer(t, store, EventsOptions{})
	live := openStream(t, streamClient, srv, "")

	// While libvirtd is down, one guest is killed and two frozen. The
	// restarted libvirtd then hangs on the frozen ones' monitors and lists
	// them as running, so they are still running when vAdvisor resubscribes.
	restartLibvirtd(t, func() {
		if err := exec.Command("kill", "-9", qemuPid(victim)).Run(); err != nil {
			t.Fatal(err)
		}
		if err := exec.Command("kill", "-STOP", frozenPid, restartedPid).Run(); err != nil {
			t.Fatal(err)
		}
	})
	waitFor(t, 20*time.Second, "resubscription", func() bool {
		return sub.Subscribed() && testutil.CollectAndCompare(sub, strings.NewReader(`
# HELP vadvisor_events_libvirt_subscriptions_total Subscriptions to libvirt's lifecycle events made; more than one means the connection was lost and events were reconciled.
# TYPE vadvisor_events_libvirt_subscriptions_total counter
vadvisor_events_libvirt_subscriptions_total 2
`), "vadvisor_events_libvirt_subscriptions_total") == nil
	})

	// libvirtd may also list the killed guest as running for a while and
	// then mark it shut off without an event: vAdvisor's check of the
	// state finds that within two of its listings.
	got := live.events(t, victim, 1, 20*time.Second)[0]
	if got.String() != "Stopped/Reconciled" || !got.Reconciled || got.DomainID != victimUUID {
		t.Errorf("the stream got %+v for the guest killed in the gap, want a reconciled Stopped event", got)
	}
	if state := testbed.Virsh(t, "domstate", frozen); !strings.Contains(state, "running") {
		t.Fatalf("libvirtd says the frozen guest is %q, want running", state)
	}
	// Now the frozen guest dies: libvirtd marks it shut off, silently.
	if err := exec.Command("kill", "-9", frozenPid).Run(); err != nil {
		t.Fatal(err)
	}
	if got := live.events(t, frozen, 1, 20*time.Second)[0]; got.String() != "Stopped/Reconciled" {
		t.Errorf("the stream got %+v for the guest that died after the resubscription, want a reconciled Stopped event", got)
	}

	// The other frozen one dies too, and is started again as soon as
	// libvirtd says it is shut off, before the check can find the death:
	// its Started comes after the Stopped it missed.
	if err := exec.Command("kill", "-9", restartedPid).Run(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, restarted+" shut off", func() bool {
		return strings.Contains(testbed.Virsh(t, "domstate", restarted), "shut off")
	})
	testbed.Virsh(t, "start", restarted)
	if got := names(live.events(t, restarted, 3, 20*time.Second)); got != "Stopped/Reconciled Resumed/Unpaused Started/Booted" {
		t.Errorf("the stream got %s for the guest that died and was started again, want Stopped/Reconciled Resumed/Unpaused Started/Booted", got)
	}

	for name, want := range map[string]string{
		victim:    "Stopped/Reconciled",
		frozen:    "Stopped/Reconciled",
		restarted: "Stopped/Reconciled Started/Booted",
	} {
		var hist []evLine
		for _, e := range getHistory(t, srv, "stopped_events=true&started_events=true&max_events=100") {
			if e.DomainName == name {
				hist = append(hist, e)
			}
		}
		if got := names(hist); got != want {
			t.Errorf("history of %s has %s, want %s", name, got, want)
		}
	}
	if err := testbed.TryVirsh("suspend", other); err != nil {
		t.Fatal(err)
	}
	if got := live.events(t, other, 1, 5*time.Second); got[0].String() != "Suspended/Paused" || got[0].Reconciled {
		t.Errorf("after the restart, suspend gave %+v", got)
	}
	_ = testbed.TryVirsh("resume", other)
}

// restartLibvirtd stops libvirtd, runs gap while it is down, and starts it again.
func restartLibvirtd(t *testing.T, gap func()) {
	t.Helper()
	out, err := exec.Command("pgrep", "-x", "libvirtd").Output()
	pid := strings.TrimSpace(string(out))
	if err != nil || strings.Contains(pid, "\n") {
		t.Fatalf("want one libvirtd, pgrep says %q (%v)", pid, err)
	}
	if err := exec.Command("kill", pid).Run(); err != nil {
		t.Fatalf("kill libvirtd %s: %v", pid, err)
	}
	// Gone, or a zombie when nobody reaps daemons here.
	waitFor(t, 10*time.Second, "libvirtd exit", func() bool {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		return err != nil || strings.Contains(string(stat), ") Z ")
	})
	gap()
	if out, err := exec.Command("libvirtd", "--daemon").CombinedOutput(); err != nil {
		t.Fatalf("libvirtd --daemon: %v\n%s", err, out)
	}
	waitFor(t, 10*time.Second, "libvirtd", func() bool {
		return testbed.TryVirsh("version") == nil
	})
}
