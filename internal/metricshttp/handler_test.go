package metricshttp

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// scrapeGatherer serves one gauge, a_scraped, and hands the scrape's
// context to the test, waiting for release if it is set.
func scrapeGatherer(ctxs chan<- context.Context, release <-chan struct{}) func(context.Context) prometheus.Gatherer {
	return func(ctx context.Context) prometheus.Gatherer {
		return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
			ctxs <- ctx
			if release != nil {
				<-release
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "a_scraped", Help: "Scraped."}, func() float64 { return 1 }))
			return reg.Gather()
		})
	}
}

func get(t *testing.T, h http.Handler, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header = header
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestScrapeMergesAndIsBoundedByPrometheusTimeout(t *testing.T) {
	own := prometheus.NewRegistry()
	// Long enough to be worth compressing.
	own.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "b_own", Help: strings.Repeat("Own. ", 500)}, func() float64 { return 2 }))
	ctxs := make(chan context.Context, 1)
	h := Handler(own, scrapeGatherer(ctxs, nil), Options{TimeoutOffset: 250 * time.Millisecond}, slog.New(slog.DiscardHandler))

	start := time.Now()
	rec := get(t, h, http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {"10"}, "Accept-Encoding": {"gzip"}})
	deadline, ok := (<-ctxs).Deadline()
	if want := start.Add(10*time.Second - 250*time.Millisecond); !ok || deadline.Before(want) || deadline.After(want.Add(100*time.Millisecond)) {
		t.Errorf("scrape deadline %v (set: %v), want 9.75s from the request", deadline.Sub(start), ok)
	}
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Encoding") != "gzip" { // what Prometheus asks for
		t.Fatalf("%d, Content-Encoding %q; want 200 gzipped", rec.Code, rec.Header().Get("Content-Encoding"))
	}

	rec = get(t, h, http.Header{})
	if _, ok := (<-ctxs).Deadline(); ok {
		t.Error("a scrape without a timeout header has a deadline")
	}
	body, _ := io.ReadAll(rec.Body)
	text := string(body)
	if a, b := strings.Index(text, "a_scraped 1"), strings.Index(text, "b_own 2"); a < 0 || b < a {
		t.Errorf("want a_scraped, then b_own, in name order:\n%s", text)
	}
}

func TestConcurrentScrapesBeyondTheLimitGet503(t *testing.T) {
	ctxs, release := make(chan context.Context), make(chan struct{})
	h := Handler(prometheus.NewRegistry(), scrapeGatherer(ctxs, release), Options{MaxRequests: 1}, slog.New(slog.DiscardHandler))
	done := make(chan int)
	go func() { done <- get(t, h, http.Header{}).Code }()
	<-ctxs // the first scrape runs
	second := make(chan int, 1)
	go func() { second <- get(t, h, http.Header{}).Code }()
	select {
	case code := <-second:
		if code != http.StatusServiceUnavailable {
			t.Errorf("second scrape while the first runs: %d, want 503", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a second scrape was let in while the first ran")
	}
	close(release)
	if code := <-done; code != http.StatusOK {
		t.Errorf("first scrape: %d", code)
	}
	go func() { <-ctxs }()
	if code := get(t, h, http.Header{}).Code; code != http.StatusOK {
		t.Errorf("scrape after the first ended: %d, want 200", code)
	}
}
