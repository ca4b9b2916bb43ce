package collector

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vadvisor/vadvisor/internal/metricshttp"
	"github.com/vadvisor/vadvisor/internal/testbed"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

// The scrape benchmarks pair a full /metrics scrape (bulk call, decoding,
// every default collector, text encoding, gzip) with the raw libvirt calls
// it is built on, so that the ratio shows what the exporter adds. For a
// profile: go test ./collector -run - -bench Scrape1000 -cpuprofile cpu.out

func benchScrape(b *testing.B, uri string) { benchScrapeWith(b, uri, false) }

// benchScrapeWith gathers through a prometheus.Registry per scrape if
// registry is set, to weigh it against Collector.Gatherer.
func benchScrapeWith(b *testing.B, uri string, registry bool) {
	conn := testbed.Conn(b, uri)
	c := newCollectorOn(b, conn, Defaults(), testbed.Logger(b))
	perScrape := c.Gatherer
	if registry {
		perScrape = func(ctx context.Context) prometheus.Gatherer {
			reg := prometheus.NewRegistry()
			reg.MustRegister(c.WithContext(ctx))
			return reg
		}
	}
	handler := metricshttp.Handler(prometheus.NewRegistry(), perScrape, metricshttp.Options{}, testbed.Logger(b))
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")      // as Prometheus asks
	handler.ServeHTTP(httptest.NewRecorder(), req) // warm the definition cache, as on every scrape but the first
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

func benchRawBulk(b *testing.B, uri string, groups libvirt.DomainStatsTypes) {
	conn := testbed.Conn(b, uri)
	var times []time.Duration
	for b.Loop() {
		start := time.Now()
		_, err := libvirtconn.Do(context.Background(), conn, func(l *libvirt.Libvirt) ([]libvirt.DomainStatsRecord, error) {
			if _, _, err := l.ConnectListAllDomains(1, 0); err != nil {
				return nil, err
			}
			return l.ConnectGetAllDomainStats(nil, uint32(groups), uint32(libvirt.ConnectGetAllDomainsStatsNowait))
		})
		if err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	reportMedian(b, times)
}

// reportMedian adds the median of the iterations' times, steadier than
// their mean on a machine others share.
func reportMedian(b *testing.B, times []time.Duration) {
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Nanoseconds()), "median-ns/op")
}

func BenchmarkScrape1000TestDomains(b *testing.B) { benchScrape(b, testbed.TestNode(b, "bench", 1000)) }
func BenchmarkScrapeRegistry1000TestDomains(b *testing.B) {
	benchScrapeWith(b, testbed.TestNode(b, "bench", 1000), true)
}
func BenchmarkRawListBulk1000TestDomains(b *testing.B) {
	benchRawBulk(b, testbed.TestNode(b, "bench", 1000), Defaults().StatsGroups())
}

func BenchmarkScrapeGuests(b *testing.B) {
	testbed.Guests(b, "vadv-c", 3)
	benchScrape(b, "qemu:///system")
}

func BenchmarkRawListBulkGuests(b *testing.B) {
	testbed.Guests(b, "vadv-c", 3)
	benchRawBulk(b, "qemu:///system", Defaults().StatsGroups())
}

// BenchmarkNodeCollector is the node collector's cost per scrape on the
// real libvirtd (the capabilities, read once per connection, are read
// before the timer starts); median-ns/op is the median of the iterations.
func BenchmarkNodeCollector(b *testing.B) {
	conn := testbed.Conn(b, "qemu:///system")
	node := &nodeCollector{logger: testbed.Logger(b)}
	ch := make(chan prometheus.Metric, 64)
	go func() {
		for range ch {
		}
	}()
	defer close(ch)
	s := &scrape{ctx: context.Background(), conn: conn, ch: ch}
	if err := node.update(s); err != nil {
		b.Fatal(err)
	}
	var times []time.Duration
	for b.Loop() {
		start := time.Now()
		if err := node.update(s); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	reportMedian(b, times)
}

// The kvm collector's cost is that of the vm group in the bulk call: on
// the default groups with and without it.
func BenchmarkRawListBulkGuestsKVM(b *testing.B) {
	testbed.Guests(b, "vadv-c", 3)
	benchRawBulk(b, "qemu:///system", Defaults().StatsGroups()|libvirt.DomainStatsVm)
}
