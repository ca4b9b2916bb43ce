package collector

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzhttp"
	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// Handler serves the live metrics of c together with those of registry
// (the exporter's own). Each scrape is bounded by the timeout Prometheus
// announces in X-Prometheus-Scrape-Timeout-Seconds, less margin; at most
// maxRequests scrapes run at once (0: no limit), more get 503.
func (c *Collector) Handler(registry prometheus.Gatherer, maxRequests int, margin time.Duration, logger *slog.Logger) http.Handler {
	opts := promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
		// Compressed below, faster than promhttp's stdlib gzip at its
		// default level: on 1000 domains that was a fifth of a scrape.
		OfferedCompressions: []promhttp.Compression{promhttp.Identity},
	}
	compress, err := gzhttp.NewWrapper(gzhttp.CompressionLevel(gzip.BestSpeed))
	if err != nil {
		panic(err) // only for an invalid level
	}
	var inFlight chan struct{}
	if maxRequests > 0 {
		inFlight = make(chan struct{}, maxRequests)
	}
	return compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if inFlight != nil {
			select {
			case inFlight <- struct{}{}:
				defer func() { <-inFlight }()
			default:
				http.Error(w, fmt.Sprintf("Limit of concurrent scrapes reached (%d), try again later.", maxRequests), http.StatusServiceUnavailable)
				return
			}
		}
		ctx := r.Context()
		if seconds, err := strconv.ParseFloat(r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"), 64); err == nil && seconds > 0 {
			timeout := time.Duration(seconds * float64(time.Second))
			if timeout > 2*margin {
				timeout -= margin
			}
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		gather := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
			own, err := registry.Gather()
			mine := c.gather(ctx)
			return mergeFamilies(own, mine), err
		})
		promhttp.HandlerFor(gather, opts).ServeHTTP(w, r)
	}))
}

// gather is one scrape's metric families. A registry would check every
// series for consistency and sort them, which costs more than the rest of
// a scrape of many domains together; the collector's families are known
// (families) and its tests check that they are consistent.
func (c *Collector) gather(ctx context.Context) []*dto.MetricFamily {
	ch := make(chan prometheus.Metric, 1024)
	go func() {
		c.WithContext(ctx).Collect(ch)
		close(ch)
	}()
	byDesc := map[*prometheus.Desc]*dto.MetricFamily{}
	for m := range ch {
		f := byDesc[m.Desc()]
		if f == nil {
			proto := families[m.Desc()]
			f = &dto.MetricFamily{Name: proto.Name, Help: proto.Help, Type: proto.Type}
			byDesc[m.Desc()] = f
		}
		pb := &dto.Metric{}
		if err := m.Write(pb); err != nil {
			continue // cannot happen for constant metrics
		}
		f.Metric = append(f.Metric, pb)
	}
	out := make([]*dto.MetricFamily, 0, len(byDesc))
	for _, f := range byDesc {
		out = append(out, f)
	}
	return out
}

// mergeFamilies joins two sets of families with distinct names, in name order.
func mergeFamilies(a, b []*dto.MetricFamily) []*dto.MetricFamily {
	out := append(slices.Clip(a), b...)
	slices.SortFunc(out, func(x, y *dto.MetricFamily) int { return strings.Compare(x.GetName(), y.GetName()) })
	return out
}
