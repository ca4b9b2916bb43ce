package api

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vadvisor/vadvisor/events"
)

// BenchmarkEventsFanOut streams events stored at 1000 a second to 100
// clients over real HTTP and reports the delay from the store's Add to the
// line reaching a client, events lost by clients that keep up, and the
// memory a stored event costs. Run it with a fixed count of events:
//
//	go test ./api -run '^$' -bench EventsFanOut -benchtime 5000x
func BenchmarkEventsFanOut(b *testing.B) {
	const clients = 100
	perEvent := bytesPerStoredEvent(b) // first, on a quiet heap
	store := mustStore(b, time.Hour, maxEvents)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mux := http.NewServeMux()
	newEvents(b, ctx, store, EventsOptions{}, slog.New(slog.DiscardHandler)).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	var (
		mu     sync.Mutex
		delays []time.Duration
		got    = make([]int, clients)
		wg     sync.WaitGroup
	)
	wg.Add(clients)
	for c := 0; c < clients; c++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+eventsPath+"?stream=true", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			defer wg.Done()
			defer resp.Body.Close()
			mine := make([]time.Duration, 0, b.N)
			var last uint64
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				line := sc.Bytes()
				now := time.Now()
				if len(line) == 0 {
					continue
				}
				ts, id := field(line, `"timestamp":"`, `"`), field(line, `"id":`, `,}`)
				t, err := time.Parse(time.RFC3339Nano, string(ts))
				n, err2 := strconv.ParseUint(string(id), 10, 64)
				if err != nil || err2 != nil || (last != 0 && n != last+1) {
					break // counted as lost below
				}
				last = n
				mine = append(mine, now.Sub(t))
				if len(mine) == b.N {
					break
				}
			}
			mu.Lock()
			delays = append(delays, mine...)
			got[slices.Index(got, 0)] = len(mine)
			mu.Unlock()
			io.Copy(io.Discard, resp.Body)
		}()
	}
	for testutil.CollectAndCompare(store, streamClients(clients), "vadvisor_events_stream_clients") != nil {
		time.Sleep(time.Millisecond)
	}

	b.ResetTimer()
	tick := time.NewTicker(time.Millisecond)
	for i := 0; i < b.N; i++ {
		<-tick.C
		store.Add(events.Event{Type: events.Type(i % 9), DomainName: "vm" + strconv.Itoa(i%50), DomainUUID: "00000000-0000-4000-8000-0000000000" + strconv.Itoa(10+i%50)})
	}
	tick.Stop()
	b.StopTimer()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cancel() // ends the streams; the missing events count as lost
		<-done
	}

	lost := 0
	for _, n := range got {
		lost += b.N - n
	}
	slices.Sort(delays)
	pct := func(p float64) float64 {
		if len(delays) == 0 {
			return 0
		}
		return float64(delays[int(p*float64(len(delays)-1))]) / 1e6
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
	b.ReportMetric(float64(lost), "lost-events")
	b.ReportMetric(perEvent, "B/stored-event")
}

// field is the text after key up to one of the end bytes.
func field(line []byte, key, end string) []byte {
	i := bytes.Index(line, []byte(key))
	if i < 0 {
		return nil
	}
	rest := line[i+len(key):]
	if j := bytes.IndexAny(rest, end); j >= 0 {
		return rest[:j]
	}
	return rest
}

// bytesPerStoredEvent is the heap a full store takes per event, for
// events of 50 domains.
func bytesPerStoredEvent(b *testing.B) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	store := mustStore(b, time.Hour, maxEvents)
	for i := 0; i < maxEvents; i++ {
		store.Add(events.Event{Type: events.Type(i % 9), DomainName: "vm" + strconv.Itoa(i%50), DomainUUID: "00000000-0000-4000-8000-0000000000" + strconv.Itoa(10+i%50)})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(store)
	return float64(after.HeapAlloc-before.HeapAlloc) / maxEvents
}
