// Command vadvisor exports live libvirt VM metrics to Prometheus and serves
// one minute of per-second history and VM lifecycle events over REST.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	webflag "github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/vadvisor/vadvisor/api"
	"github.com/vadvisor/vadvisor/collector"
	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/domxml"
	"github.com/vadvisor/vadvisor/events"
	"github.com/vadvisor/vadvisor/history"
	"github.com/vadvisor/vadvisor/internal/durationflag"
	"github.com/vadvisor/vadvisor/internal/metricshttp"
	"github.com/vadvisor/vadvisor/internal/storage"
	"github.com/vadvisor/vadvisor/libvirtconn"
	"github.com/vadvisor/vadvisor/ui"
)

func main() { os.Exit(run(os.Args[1:])) }

// flags are where the command line's values go when it is parsed.
type flags struct {
	metricsPath, libvirtURI, domInclude, domExclude, storagePath *string
	noExporter                                                   *bool
	maxRequests, evMax, evBuffer                                 *int
	callTimeout, scrapeMargin                                    *time.Duration
	histInterval, histRetention, evRetention, evHeartbeat        *time.Duration
	webConfig                                                    *web.FlagConfig
	collectors                                                   *collector.Flags
	log                                                          *promslog.Config
}

// newApp is the command line: run parses it, and docs/flags.md is
// generated from its model (TestDocsMatchCode).
func newApp() (*kingpin.Application, *flags) {
	app := kingpin.New("vadvisor", "VM monitoring agent for libvirt hosts: Prometheus metrics, per-second history and lifecycle events.")
	f := &flags{
		metricsPath:   app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").String(),
		noExporter:    app.Flag("web.disable-exporter-metrics", "Leave out the metrics about the exporter process itself (go_*, process_*).").Bool(),
		maxRequests:   app.Flag("web.max-requests", "Maximum number of parallel scrape requests. 0 disables the limit.").Default("40").Int(),
		libvirtURI:    app.Flag("libvirt.uri", "libvirt URI to connect to. A local URI without socket= uses the read-only socket "+libvirtconn.ReadOnlySocket+".").Default("qemu:///system").String(),
		callTimeout:   durationflag.Add(app, "libvirt.timeout", "Upper bound of any single libvirt call; a hung guest costs a scrape at most this much.", "3s"),
		domInclude:    app.Flag("libvirt.domain-include", "Watch only the domains whose whole name this RE2 expression matches (default: all), in /metrics, the history, the specs, the UI and the events.").PlaceHolder("REGEX").String(),
		domExclude:    app.Flag("libvirt.domain-exclude", "Leave out the domains whose whole name this RE2 expression matches, everywhere --libvirt.domain-include applies.").PlaceHolder("REGEX").String(),
		scrapeMargin:  durationflag.Add(app, "web.scrape-timeout-offset", "Subtracted from Prometheus' X-Prometheus-Scrape-Timeout-Seconds to bound a scrape.", "250ms"),
		histInterval:  durationflag.Add(app, "history.interval", "Sampling period of the history behind /api/v1.0/stats; 0 turns the history off (only ?live=true readings are served).", "1s"),
		histRetention: durationflag.Add(app, "history.retention", "How long history samples are kept, compressed in memory: 20 to 40 bytes per VM and interval with two disks and NICs (an hour of 200 busy VMs: about 27 MiB).", "1h"),
		evRetention:   durationflag.Add(app, "events.retention", "How long lifecycle events are kept for /api/v1.0/events.", "24h"),
		evMax:         app.Flag("events.max-events", "Most lifecycle events kept; the oldest go first.").Default("100000").Int(),
		evHeartbeat:   durationflag.Add(app, "events.heartbeat", "Interval of the empty heartbeat line on an idle event stream.", "15s"),
		evBuffer:      app.Flag("events.stream-buffer", "Events a stream client may fall behind before it is disconnected.").Default("1000").Int(),
		storagePath:   app.Flag("storage.path", "Directory the history and the lifecycle events are written to every 10m and on shutdown (SIGTERM, SIGINT), and read back from at start, without what is older than their retention. Empty turns this off; a directory that does not exist or is not writable turns it off with a warning.").Default("/var/lib/vadvisor").String(),
		webConfig:     webflag.AddFlags(app, ":8181"),
		log:           &promslog.Config{},
	}
	f.collectors = collector.RegisterFlags(app)
	promslogflag.AddFlags(app, f.log)
	app.Version(version.Print("vadvisor"))
	app.HelpFlag.Short('h')
	return app, f
}

func run(args []string) int {
	app, f := newApp()
	if _, err := app.Parse(args); err != nil {
		fmt.Fprintf(os.Stderr, "vadvisor: %s\n", err)
		return 2
	}
	logger := promslog.New(f.log)
	logger.Info("starting vadvisor", "version", version.Info())
	p, ok := newParts(f, logger)
	if !ok {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	mux, code := p.newMux(ctx, f, logger)
	if code != 0 {
		return code
	}
	return p.serve(ctx, stop, mux, f.webConfig, logger)
}

// parts are vAdvisor's components, wired together.
type parts struct {
	conn       *libvirtconn.Conn
	reader     *domstats.Reader
	defs       *domxml.Cache
	metrics    *collector.Collector
	hist       *history.History // nil: the history is off
	store      *events.Store
	subscriber *events.Subscriber
	state      *storage.Dir
	registry   *prometheus.Registry // the exporter's own metrics
}

// newParts builds the components the flags ask for, or logs why it cannot.
func newParts(f *flags, logger *slog.Logger) (*parts, bool) {
	conn, err := libvirtconn.New(*f.libvirtURI, *f.callTimeout, logger.With("component", "libvirt"))
	if err != nil {
		logger.Error("bad libvirt settings", "err", fmt.Errorf("--libvirt.uri: %w", err))
		return nil, false
	}
	filter, err := libvirtconn.NewFilter("libvirt.domain-include", *f.domInclude, "libvirt.domain-exclude", *f.domExclude)
	if err != nil {
		logger.Error("bad domain filter", "err", err)
		return nil, false
	}
	conn.SetFilter(filter)
	p := &parts{conn: conn, registry: prometheus.NewRegistry()}
	p.registry.MustRegister(versioncollector.NewCollector("vadvisor"))
	if !*f.noExporter {
		p.registry.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	}
	// One reader for the scrapes and the history, so that their libvirt
	// readings never collide; it reads what either needs.
	p.reader = domstats.NewReader(conn, f.collectors.StatsGroups())
	// One cache of parsed domain definitions for the collector and the API.
	p.defs = domxml.New(conn)
	if p.metrics, err = collector.New(conn, p.reader, p.defs, f.collectors, logger); err != nil {
		logger.Error("bad collector settings", "err", err)
		return nil, false
	}
	// Each component's saved state is loaded when it is kept, before it runs.
	p.state = storage.Open(*f.storagePath, logger.With("component", "storage"))
	if *f.histInterval != 0 {
		if p.hist, err = history.New(p.reader, *f.histInterval, *f.histRetention, logger.With("component", "history")); err != nil {
			logger.Error("bad history settings", "err", err)
			return nil, false
		}
		p.registry.MustRegister(p.hist)
		p.state.Keep("history", p.hist)
	} else {
		logger.Info("the history is off (--history.interval=0): /api/v1.0/stats serves ?live=true readings only")
	}
	if p.store, err = events.NewStore(*f.evRetention, *f.evMax); err != nil {
		logger.Error("bad event settings", "err", err)
		return nil, false
	}
	p.state.Keep("events", p.store)
	p.subscriber = events.NewSubscriber(conn, p.store, logger.With("component", "events"))
	p.registry.MustRegister(p.store, p.subscriber)
	return p, true
}

// newMux routes every endpoint; event streams end with ctx. It returns a
// non-zero exit code if it cannot.
func (p *parts) newMux(ctx context.Context, f *flags, logger *slog.Logger) (*http.ServeMux, int) {
	mux := http.NewServeMux()
	mux.Handle(*f.metricsPath, metricshttp.Handler(p.registry, p.metrics.Gatherer,
		metricshttp.Options{MaxRequests: *f.maxRequests, TimeoutOffset: *f.scrapeMargin}, logger))
	api.NewStats(p.hist, p.reader, logger.With("component", "api")).Register(mux)
	api.NewHost(p.conn, p.reader, p.hist, p.store).Register(mux)
	api.NewSpecs(p.conn, p.defs, logger.With("component", "api")).Register(mux)
	// ctx ends before the server shuts down, and so ends open event streams.
	eventsAPI, err := api.NewEvents(ctx, p.store, api.EventsOptions{Heartbeat: *f.evHeartbeat, StreamBuffer: *f.evBuffer}, logger.With("component", "api"))
	if err != nil {
		logger.Error("bad event settings", "err", err)
		return nil, 2
	}
	eventsAPI.Register(mux)
	ui.Register(mux, *f.metricsPath)
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) { _, _ = fmt.Fprintln(w, "Healthy") })
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) { _, _ = fmt.Fprintln(w, "Ready") })
	if *f.metricsPath != "/" {
		landing, err := p.landingPage(*f.metricsPath)
		if err != nil {
			logger.Error("cannot build the landing page", "err", err)
			return nil, 1
		}
		mux.Handle("/", landing)
	}
	return mux, 0
}

// landingPage links every endpoint.
func (p *parts) landingPage(metricsPath string) (http.Handler, error) {
	return web.NewLandingPage(web.LandingConfig{
		Name:        "vAdvisor",
		Description: "VM monitoring agent for libvirt hosts (" + p.conn.URI() + ")",
		Version:     version.Info(),
		Links: []web.LandingLinks{
			{Address: metricsPath, Text: "Metrics", Description: "Live VM metrics for Prometheus"},
			{Address: "/api/v1.0/stats/", Text: "Stats", Description: statsDescription(p.hist)},
			{Address: "/api/v1.0/host", Text: "Host", Description: "libvirt's reachability, the domain count, the history's settings and the events' retention (JSON), without a libvirt call"},
			{Address: "/api/v1.0/specs/", Text: "Specs", Description: "Domain definitions (JSON)"},
			{Address: "/api/v1.0/events?all_events=true", Text: "Events", Description: "VM lifecycle events (NDJSON); ?stream=true to follow"},
			{Address: ui.Path, Text: "Web UI", Description: "Live view of the host: VMs, per-second charts, events"},
		},
		Profiling: "false", // no pprof endpoints here
	})
}

// serve runs the components and the server until ctx ends or the server
// fails, then stops them: stop ends ctx. It returns the exit code.
func (p *parts) serve(ctx context.Context, stop func(), mux *http.ServeMux, webConfig *web.FlagConfig, logger *slog.Logger) int {
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	var running sync.WaitGroup
	running.Go(func() { p.conn.Run(ctx) })
	running.Go(func() { p.metrics.Run(ctx) })
	if p.hist != nil {
		running.Go(func() { p.hist.Run(ctx) })
	}
	running.Go(func() { p.subscriber.Run(ctx) })
	running.Go(func() { p.state.Run(ctx) })
	serveErr := make(chan error, 1)
	go func() { serveErr <- web.ListenAndServe(server, webConfig, logger) }()

	code := 0
	select {
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			logger.Error("cannot serve", "err", err)
			code = 1
		}
	case <-ctx.Done():
		logger.Info("shutting down")
	}
	stop()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil {
		logger.Warn("cannot shut down the web server cleanly", "err", err)
	}
	running.Wait()
	// The last write, with everything the stopped components recorded.
	_ = p.state.Close() // it logs a failure
	return code
}

func statsDescription(hist *history.History) string {
	if hist == nil {
		return "The history is off (--history.interval=0): ?live=true for a fresh sample of every VM (JSON)"
	}
	return fmt.Sprintf("History of every VM, a sample every %s kept for %s, compressed (JSON): the last 60 s, "+
		"or any range with start_time, end_time and step; ?live=true for a fresh sample", model.Duration(hist.Interval()), model.Duration(hist.Retention()))
}
