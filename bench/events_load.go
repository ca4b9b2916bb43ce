package main

// The load of the events part: /metrics and the live stats read without
// pause while the events are timed.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// startLoad reads /metrics, as Prometheus scrapes it, and the live stats,
// each without pause, until the returned end, which may be called again.
func (r *eventsResult) startLoad(ctx context.Context, base string) (end func()) {
	loadCtx, stopLoad := context.WithCancel(ctx)
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
	var once sync.Once
	return func() {
		once.Do(func() {
			stopLoad()
			load.Wait()
		})
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
}

func (g *getLoop) run(ctx context.Context, client *http.Client) {
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.url, nil)
		if g.header != nil {
			req.Header = g.header.Clone()
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
