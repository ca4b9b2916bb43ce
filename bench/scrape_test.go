package main

import (
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vadvisor/vadvisor/collector"
	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/internal/testbed"
)

// BenchmarkScrapeTestNode is one /metrics scrape of a 1000-domain
// test-driver node inside the test process, for CPU and allocation
// profiles of the collector (go test ./bench -bench . -cpuprofile cpu.out).
func BenchmarkScrapeTestNode(b *testing.B) {
	conn := testbed.Conn(b, testbed.TestNode(b, "bench", 1000))
	enabled := defaultEnabled()
	reader := domstats.NewReader(conn, enabled.StatsGroups())
	metrics := collector.New(conn, reader, enabled, testbed.Logger(b))
	handler := metrics.Handler(prometheus.NewRegistry(), 0, 0, testbed.Logger(b))
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")      // as Prometheus asks
	handler.ServeHTTP(httptest.NewRecorder(), req) // fills the caches
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}
