package e2e

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

// TestHangupsCostOnlyTheirCaller: clients that ask for a live reading and
// hang up 5–80 ms later, while another client scrapes in a loop and the
// history samples every 200 ms, cost nobody else anything: every scrape
// has the domain series and no history tick fails. The reading they
// joined or started goes on without them.
func TestHangupsCostOnlyTheirCaller(t *testing.T) {
	testbed.StopWhenDone(t, testbed.Guests(t, faultPrefix, 6))
	p := Start(t, "--libvirt.uri=qemu:///system", "--history.interval=200ms")
	waitUp(t, p, "1")
	body, _ := scrape(t, p)
	failuresBefore, _ := strconv.Atoi(value(body, "vadvisor_history_sample_failures_total"))

	ctx, stop := context.WithTimeout(context.Background(), 15*time.Second)
	defer stop()
	var hangups atomic.Int64
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for ctx.Err() == nil {
				reqCtx, cancel := context.WithTimeout(ctx, time.Duration(5+rand.IntN(76))*time.Millisecond)
				req, _ := http.NewRequestWithContext(reqCtx, "GET", p.URL("/api/v1.0/stats/?live=true"), nil)
				if resp, err := http.DefaultClient.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				} else {
					hangups.Add(1)
				}
				cancel()
			}
		})
	}
	// Scrapes without a deadline of their own: only a hang-up can then
	// cost one its domain series, however slow the host is.
	scrapes, without := 0, 0
	for ctx.Err() == nil {
		status, body := p.Get(t, "/metrics")
		if status != http.StatusOK {
			t.Fatalf("GET /metrics: %d", status)
		}
		scrapes++
		if value(body, `vadvisor_scrape_collector_success{collector="domain"}`) != "1" {
			without++
		}
	}
	wg.Wait()
	body, _ = scrape(t, p)
	failuresAfter, _ := strconv.Atoi(value(body, "vadvisor_history_sample_failures_total"))
	t.Logf("%d scrapes, %d clients hung up mid-read, %d history ticks failed", scrapes, hangups.Load(), failuresAfter-failuresBefore)
	if hangups.Load() < 20 {
		t.Fatalf("only %d clients hung up before their answer: the test did not test", hangups.Load())
	}
	if without > 0 {
		t.Errorf("%d of %d scrapes came back without the domain series while clients hung up", without, scrapes)
	}
	if failuresAfter != failuresBefore {
		t.Errorf("%d history ticks failed while clients hung up", failuresAfter-failuresBefore)
	}
	p.MustRun(t)
}
