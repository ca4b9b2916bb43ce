package e2e

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

// TestSoak runs vadvisor for VADVISOR_SOAK (a duration: "3m" in CI, "2h"
// for the long run; unset skips) under steady load: a scrape and a stats
// poll every second, 20 event stream clients, a guest cycling through
// suspend, resume, destroy and start, and libvirtd restarted twice. After a
// warm-up of a quarter of the run, the goroutine count, open files and heap
// must stay flat, and the stream clients must have received events.
func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("VADVISOR_SOAK"))
	if err != nil {
		t.Skip("set VADVISOR_SOAK to a duration (e.g. 3m) to run the soak test")
	}
	exclusive(t)
	names := testbed.Guests(t, faultPrefix, 3)
	cycled := names[0]
	t.Cleanup(func() {
		startLibvirtd(t)
		_ = testbed.TryVirsh("start", cycled)
		_ = testbed.TryVirsh("resume", cycled)
	})
	p := Start(t, "--libvirt.uri=qemu:///system", "--libvirt.timeout="+faultTimeout.String())
	waitUp(t, p, "1")
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	var failures atomic.Int64
	every := func(period time.Duration, fn func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(period)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					fn()
				}
			}
		}()
	}
	get := func(path string) int {
		req, _ := http.NewRequestWithContext(ctx, "GET", p.URL(path), nil)
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		_, _ = bufio.NewReader(resp.Body).WriteTo(discard{})
		return resp.StatusCode
	}
	every(time.Second, func() {
		if s := get("/metrics"); s != 200 && ctx.Err() == nil {
			failures.Add(1)
			t.Errorf("scrape: status %d", s)
		}
	})
	every(time.Second, func() {
		if s := get("/api/v1.0/stats"); s != 200 && ctx.Err() == nil {
			t.Errorf("stats: status %d", s)
		}
	})
	// stream reads one event stream until it ends and counts its event lines
	// (heartbeats are empty lines).
	stream := func() (status, lines int) {
		req, _ := http.NewRequestWithContext(ctx, "GET", p.URL("/api/v1.0/events?stream=true"), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, 0
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return resp.StatusCode, 0
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) > 0 {
				lines++
			}
		}
		return resp.StatusCode, lines
	}
	var streams, streamed, badStreams, badStatus atomic.Int64
	for range 20 {
		wg.Add(1)
		go func() { // a stream client that reconnects whenever its stream ends
			defer wg.Done()
			for ctx.Err() == nil {
				s, n := stream()
				streamed.Add(int64(n))
				if s == 200 {
					streams.Add(1)
				} else if ctx.Err() == nil {
					badStreams.Add(1)
					badStatus.Store(int64(s))
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	actions := []string{"suspend", "resume", "destroy", "start"}
	step := 0
	every(3*time.Second, func() {
		_ = testbed.TryVirsh(actions[step%len(actions)], cycled)
		step++
	})
	wg.Add(1)
	go func() { // libvirtd restarted at a third and two thirds of the run
		defer wg.Done()
		start := time.Now()
		for _, at := range []time.Duration{d / 3, 2 * d / 3} {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(start.Add(at))):
			}
			_ = exec.Command("pkill", "-x", "libvirtd").Run()
			time.Sleep(2 * time.Second)
			_ = exec.Command("libvirtd", "--daemon").Run()
		}
	}()

	// Resource samples every 10 s after the warm-up.
	type sample struct{ goroutines, fds, heap int }
	var samples []sample
	time.Sleep(d / 4)
	for ctx.Err() == nil {
		body, _ := scrape(t, p)
		g, _ := strconv.Atoi(value(body, "go_goroutines"))
		heap, _ := strconv.ParseFloat(value(body, "go_memstats_heap_inuse_bytes"), 64)
		ents, _ := os.ReadDir("/proc/" + strconv.Itoa(p.Pid()) + "/fd")
		samples = append(samples, sample{g, len(ents), int(heap)})
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
		}
	}
	wg.Wait()
	t.Logf("20 event stream clients: %d streams opened, %d events received", streams.Load(), streamed.Load())
	if n := badStreams.Load(); n > 0 {
		t.Errorf("%d event stream requests failed (last status %d)", n, badStatus.Load())
	}
	// The cycled guest makes events all along: every client gets them.
	if streamed.Load() < 20 {
		t.Errorf("the 20 event stream clients received %d events in all while a guest cycled", streamed.Load())
	}
	startLibvirtd(t)
	waitUp(t, p, "1")
	body, _ := scrape(t, p)
	g, _ := strconv.Atoi(value(body, "go_goroutines"))
	heap, _ := strconv.ParseFloat(value(body, "go_memstats_heap_inuse_bytes"), 64)
	ents, _ := os.ReadDir("/proc/" + strconv.Itoa(p.Pid()) + "/fd")
	end := sample{g, len(ents), int(heap)}
	if len(samples) == 0 {
		t.Fatal("no samples after the warm-up")
	}
	first, last, peak := samples[0], samples[len(samples)-1], samples[0]
	for _, s := range samples {
		peak = sample{max(peak.goroutines, s.goroutines), max(peak.fds, s.fds), max(peak.heap, s.heap)}
	}
	t.Logf("after warm-up: first %+v, last %+v, peak %+v under load; at the end without load %+v (%d samples, %d failed scrapes)",
		first, last, peak, end, len(samples), failures.Load())
	// Under the same load the last sample is level with the first (slack
	// for stream clients reconnecting and scrapes in flight) ...
	if last.goroutines > first.goroutines+15 || last.fds > first.fds+10 || last.heap > 2*first.heap+16<<20 {
		t.Errorf("resources grew under steady load: first %+v, last %+v", first, last)
	}
	// ... and with the load gone no higher than its peak.
	if end.goroutines > peak.goroutines || end.fds > peak.fds || end.heap > 2*peak.heap {
		t.Errorf("resources at the end %+v above the peak under load %+v", end, peak)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
