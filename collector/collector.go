// Package collector exports live libvirt metrics: on every scrape one bulk
// stats reading of all domains, shared by small sub-collectors that can each
// be switched on and off.
package collector

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/digitalocean/go-libvirt"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/domxml"
	"github.com/vadvisor/vadvisor/internal/outage"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

const namespace = "libvirt"

// scrape is what a sub-collector's update gets: the scrape's deadline, the
// bulk reading (nil if it failed), the domains' definitions and the
// connection.
type scrape struct {
	ctx     context.Context
	conn    *libvirtconn.Conn
	reading *domstats.Reading
	readErr error
	defs    map[libvirt.UUID]*definition
	ch      chan<- prometheus.Metric
}

// domains are the domains of the reading, or an error if there is none.
func (s *scrape) domains() ([]domstats.Domain, error) {
	if s.reading == nil {
		return nil, s.readErr
	}
	return s.reading.Domains, nil
}

// A subCollector exports its families on every scrape. What it keeps
// between scrapes, it holds itself.
type subCollector interface {
	update(s *scrape) error
}

// A background sub-collector also works between scrapes, as long as
// Collector.Run runs.
type background interface {
	run(ctx context.Context)
}

// updateFunc is a sub-collector that keeps nothing between scrapes.
type updateFunc func(*scrape) error

func (f updateFunc) update(s *scrape) error { return f(s) }

// deps are what New builds the sub-collectors with.
type deps struct {
	conn   *libvirtconn.Conn
	flags  *Flags
	logger *slog.Logger // the collector's
	root   *slog.Logger // the process's, for components of their own
}

// A factory registers a sub-collector: what its flag and docs/metrics.md
// say of it, what it reads, and how New builds it.
type factory struct {
	name            string
	help            string
	defaultOn       bool
	groups          libvirt.DomainStatsTypes // bulk stats groups it reads
	needsDefinition bool                     // whether it reads the domains' definitions
	build           func(deps) (subCollector, error)
}

// stateless builds a sub-collector that keeps nothing between scrapes.
func stateless(update func(*scrape) error) func(deps) (subCollector, error) {
	return func(deps) (subCollector, error) { return updateFunc(update), nil }
}

// factories are all sub-collectors, one file each.
var factories []factory

func registerCollector(f factory) { factories = append(factories, f) }

// Flags are the collector's command line: which sub-collectors are on,
// and the guest agent's connection and schedule.
type Flags struct {
	on         map[string]*bool
	guestAgent guestAgentFlags
}

// RegisterFlags adds the collector's flags to app: --collector.NAME /
// --no-collector.NAME for each sub-collector, after the guest agent's
// --collector.guest-agent.*.
func RegisterFlags(app *kingpin.Application) *Flags {
	f := &Flags{on: map[string]*bool{}, guestAgent: addGuestAgentFlags(app)}
	for _, c := range factories {
		state := "disabled"
		if c.defaultOn {
			state = "enabled"
		}
		f.on[c.name] = app.Flag("collector."+c.name,
			fmt.Sprintf("Enable the %s collector: %s (default: %s).", c.name, c.help, state)).
			Default(fmt.Sprint(c.defaultOn)).Bool()
	}
	return f
}

// SubCollector is what docs/metrics.md says of a sub-collector.
type SubCollector struct {
	Name, Help string
	DefaultOn  bool
}

// SubCollectors are the sub-collectors, in the order of their flags.
func SubCollectors() []SubCollector {
	out := make([]SubCollector, len(factories))
	for i, c := range factories {
		out[i] = SubCollector{c.name, c.help, c.defaultOn}
	}
	return out
}

// Defaults are the flags' defaults.
func Defaults() *Flags {
	app := kingpin.New("defaults", "")
	f := RegisterFlags(app)
	if _, err := app.Parse(nil); err != nil {
		panic(err) // the defaults do not parse
	}
	return f
}

func (f *Flags) enabled() []factory {
	var out []factory
	for _, c := range factories {
		if *f.on[c.name] {
			out = append(out, c)
		}
	}
	return out
}

// StatsGroups is the union of the bulk stats groups the enabled
// sub-collectors read; the history sampler reads the same groups, so one
// reading can serve both.
func (f *Flags) StatsGroups() libvirt.DomainStatsTypes {
	groups := libvirt.DomainStatsState
	for _, c := range f.enabled() {
		groups |= c.groups
	}
	return groups
}

// Collector is the libvirt collector. WithContext gives the per-scrape
// prometheus.Collector.
type Collector struct {
	conn         *libvirtconn.Conn
	reader       *domstats.Reader
	enabled      []*enabled
	defs         *domxml.Cache // nil if no enabled sub-collector reads definitions
	logger       *slog.Logger
	readFailures outage.Log // of the bulk reading
}

// enabled is a sub-collector that is on, and whether it is failing.
type enabled struct {
	name string
	subCollector
	failures outage.Log
}

// New builds the collector over a shared connection, reader and cache of
// domain definitions, with the sub-collectors flags turns on. It checks
// the guest agent's flags, whether its sub-collector is on or not.
func New(conn *libvirtconn.Conn, reader *domstats.Reader, defs *domxml.Cache, flags *Flags, logger *slog.Logger) (*Collector, error) {
	if err := flags.guestAgent.check(); err != nil {
		return nil, err
	}
	c := &Collector{conn: conn, reader: reader, logger: logger.With("component", "collector")}
	d := deps{conn: conn, flags: flags, logger: c.logger, root: logger}
	for _, f := range flags.enabled() {
		sub, err := f.build(d)
		if err != nil {
			return nil, err
		}
		c.enabled = append(c.enabled, &enabled{name: f.name, subCollector: sub})
		if f.needsDefinition {
			c.defs = defs
		}
	}
	return c, nil
}

// Run does the enabled sub-collectors' work between scrapes until ctx
// ends: reading the versions, asking the guest agents. Without it the
// version and guest-agent collectors export nothing.
func (c *Collector) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, e := range c.enabled {
		if b, ok := e.subCollector.(background); ok {
			wg.Go(func() { b.run(ctx) })
		}
	}
	wg.Wait()
}

// Every scrape exports these families, whichever sub-collectors are on:
// libvirt_* and, of the exporter's own figures of the scrape, vadvisor_*.
var (
	scrapeFamilies = group{namespace: namespace}
	ownFamilies    = group{namespace: "vadvisor"}

	upMetric      = scrapeFamilies.gauge("up", "Whether libvirt could be reached (1) or not (0).")
	domainsMetric = scrapeFamilies.gauge("domains",
		"Number of domains, running or not.").
		from(domstats.Count, "virConnectGetAllDomainStats")
	scrapeDurationMetric = ownFamilies.gauge("scrape_collector_duration_seconds", "Time a sub-collector took in this scrape.", "collector")
	scrapeSuccessMetric  = ownFamilies.gauge("scrape_collector_success", "Whether a sub-collector succeeded in this scrape.", "collector")
	readDurationMetric   = ownFamilies.gauge("bulk_stats_duration_seconds", "Time the bulk stats reading of this scrape took.")
)

// WithContext returns the collector for one scrape, bounded by ctx.
func (c *Collector) WithContext(ctx context.Context) prometheus.Collector {
	return &scrapeCollector{c: c, ctx: ctx}
}

type scrapeCollector struct {
	c   *Collector
	ctx context.Context
}

// Describe sends the descriptors of every metric of the package, of the
// enabled sub-collectors or not: a collector must describe all it may
// send, and may describe more.
func (sc *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for d := range families {
		ch <- d
	}
}

func (sc *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	c, ctx := sc.c, sc.ctx
	s := &scrape{ctx: ctx, conn: c.conn, ch: ch}
	s.reading, s.readErr = c.reader.Read(ctx)
	if s.readErr != nil {
		c.readFailures.Failed(c.logger, "bulk stats reading failed", "bulk stats reading still failing", "err", s.readErr)
	} else {
		if c.readFailures.Ended() {
			c.logger.Info("bulk stats reading works again")
		}
		domainsMetric.sendFloat(ch, float64(len(s.reading.Domains)))
		readDurationMetric.sendFloat(ch, s.reading.Duration.Seconds())
		if c.defs != nil {
			s.defs = lookupDefinitions(ctx, c.defs, s.reading.Domains)
		}
	}
	upMetric.sendFloat(ch, boolFloat(c.conn.Connected()))

	var wg sync.WaitGroup
	for _, sub := range c.enabled {
		wg.Go(func() {
			start := time.Now()
			err := sub.update(s)
			scrapeDurationMetric.sendFloat(ch, time.Since(start).Seconds(), sub.name)
			scrapeSuccessMetric.sendFloat(ch, boolFloat(err == nil), sub.name)
			switch {
			case err == nil:
				if sub.failures.Ended() {
					c.logger.Info("collector works again", "collector", sub.name)
				}
			case err != s.readErr: // that one is logged above
				sub.failures.Failed(c.logger, "collector failed", "collector still failing", "collector", sub.name, "err", err)
			}
		})
	}
	wg.Wait()
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// sortedKeys returns a map's keys in order, for stable output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
