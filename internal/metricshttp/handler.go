// Package metricshttp serves /metrics: each scrape gathers the exporter's
// own registry together with a gatherer bound to the scrape's deadline,
// which Prometheus announces in X-Prometheus-Scrape-Timeout-Seconds; the
// number of scrapes at once is bounded, and the answer is gzipped.
package metricshttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/vadvisor/vadvisor/internal/httpgzip"
)

// Options bound the scrapes.
type Options struct {
	// MaxRequests is how many scrapes may run at once (0: no limit); more
	// get 503.
	MaxRequests int
	// TimeoutOffset is taken off the scrape timeout Prometheus announces,
	// to leave time for the answer to reach it.
	TimeoutOffset time.Duration
}

// Handler serves the metrics of registry and of the gatherer perScrape
// returns for each scrape's context; their metric names must differ.
func Handler(registry prometheus.Gatherer, perScrape func(context.Context) prometheus.Gatherer, opts Options, logger *slog.Logger) http.Handler {
	promOpts := promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
		// Compressed by httpgzip, faster than promhttp's stdlib gzip at
		// its default level: on 1000 domains that was a fifth of a scrape.
		OfferedCompressions: []promhttp.Compression{promhttp.Identity},
	}
	var inFlight chan struct{}
	if opts.MaxRequests > 0 {
		inFlight = make(chan struct{}, opts.MaxRequests)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if inFlight != nil {
			select {
			case inFlight <- struct{}{}:
				defer func() { <-inFlight }()
			default:
				http.Error(w, fmt.Sprintf("Limit of concurrent scrapes reached (%d), try again later.", opts.MaxRequests), http.StatusServiceUnavailable)
				return
			}
		}
		ctx, cancel := scrapeContext(r, opts.TimeoutOffset)
		defer cancel()
		// Not prometheus.Gatherers: it would check every series of the
		// scrape again, the cost perScrape's gatherer avoids.
		gather := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
			own, err := registry.Gather()
			scraped, scrapeErr := perScrape(ctx).Gather()
			return mergeFamilies(own, scraped), errors.Join(err, scrapeErr)
		})
		httpgzip.Handler(promhttp.HandlerFor(gather, promOpts)).ServeHTTP(w, r)
	})
}

// mergeFamilies joins two sets of families with distinct names, in name order.
func mergeFamilies(a, b []*dto.MetricFamily) []*dto.MetricFamily {
	out := append(slices.Clip(a), b...)
	slices.SortFunc(out, func(x, y *dto.MetricFamily) int { return strings.Compare(x.GetName(), y.GetName()) })
	return out
}

// scrapeContext is the request's context bounded by the scrape timeout
// Prometheus announces, less offset (unless that leaves less than offset).
func scrapeContext(r *http.Request, offset time.Duration) (context.Context, context.CancelFunc) {
	seconds, err := strconv.ParseFloat(r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"), 64)
	if err != nil || seconds <= 0 {
		return context.WithCancel(r.Context())
	}
	timeout := time.Duration(seconds * float64(time.Second))
	if timeout > 2*offset {
		timeout -= offset
	}
	return context.WithTimeout(r.Context(), timeout)
}
