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
	"github.com/vadvisor/vadvisor/libvirtconn"
)

const namespace = "libvirt"

// scrape is what a sub-collector gets: the scrape's deadline, the bulk
// reading (nil if it failed), the domains' definitions and the connection.
type scrape struct {
	c       *Collector
	ctx     context.Context
	conn    *libvirtconn.Conn
	reading *domstats.Reading
	readErr error
	specs   map[libvirt.UUID]*spec
	ch      chan<- prometheus.Metric
}

// domains are the domains of the reading, or an error if there is none.
func (s *scrape) domains() ([]domstats.Domain, error) {
	if s.reading == nil {
		return nil, s.readErr
	}
	return s.reading.Domains, nil
}

type subCollector struct {
	name      string
	help      string
	defaultOn bool
	groups    libvirt.DomainStatsTypes // bulk stats groups it reads
	needsSpec bool                     // whether it reads the domain XML
	update    func(*scrape) error
}

// subCollectors are all sub-collectors, one file each.
var subCollectors []subCollector

func register(c subCollector) { subCollectors = append(subCollectors, c) }

// Enabled is the set of sub-collectors chosen by flags.
type Enabled struct {
	flags map[string]*bool
}

// RegisterFlags adds --collector.NAME / --no-collector.NAME for each
// sub-collector.
func RegisterFlags(app *kingpin.Application) *Enabled {
	e := &Enabled{flags: map[string]*bool{}}
	for _, c := range subCollectors {
		state := "disabled"
		if c.defaultOn {
			state = "enabled"
		}
		e.flags[c.name] = app.Flag("collector."+c.name,
			fmt.Sprintf("Enable the %s collector: %s (default: %s).", c.name, c.help, state)).
			Default(fmt.Sprint(c.defaultOn)).Bool()
	}
	return e
}

// SubCollector is what docs/metrics.md says of a sub-collector.
type SubCollector struct {
	Name, Help string
	DefaultOn  bool
}

// SubCollectors are the sub-collectors, in the order of their flags.
func SubCollectors() []SubCollector {
	out := make([]SubCollector, len(subCollectors))
	for i, c := range subCollectors {
		out[i] = SubCollector{c.name, c.help, c.defaultOn}
	}
	return out
}

// Defaults is the set of sub-collectors that are on by default.
func Defaults() *Enabled {
	e := &Enabled{flags: map[string]*bool{}}
	for _, c := range subCollectors {
		e.flags[c.name] = &c.defaultOn
	}
	return e
}

// on reports whether the sub-collector named name is enabled.
func (e *Enabled) on(name string) bool {
	on := e.flags[name]
	return on != nil && *on
}

// GuestAgentOn reports whether the guest-agent sub-collector is enabled:
// it alone needs agents of its own (WithGuestAgents).
func (e *Enabled) GuestAgentOn() bool { return e.on(guestAgentName) }

func (e *Enabled) list() []subCollector {
	var out []subCollector
	for _, c := range subCollectors {
		if *e.flags[c.name] {
			out = append(out, c)
		}
	}
	return out
}

// StatsGroups is the union of the bulk stats groups the enabled
// sub-collectors read; the history sampler reads the same groups, so one
// reading can serve both.
func (e *Enabled) StatsGroups() libvirt.DomainStatsTypes {
	groups := libvirt.DomainStatsState
	for _, c := range e.list() {
		groups |= c.groups
	}
	return groups
}

// Collector is the libvirt collector. WithContext gives the per-scrape
// prometheus.Collector.
type Collector struct {
	conn     *libvirtconn.Conn
	reader   *domstats.Reader
	enabled  []subCollector
	specs    *specCache
	version  versionCache
	node     nodeCache
	logger   *slog.Logger
	failures failureLog
	agents   guestAgents // for the guest-agent sub-collector
}

// New builds the collector over a shared connection, reader and cache of
// domain definitions.
func New(conn *libvirtconn.Conn, reader *domstats.Reader, defs *domxml.Cache, enabled *Enabled, logger *slog.Logger) *Collector {
	return &Collector{
		conn:    conn,
		reader:  reader,
		enabled: enabled.list(),
		specs:   newSpecCache(defs),
		version: newVersionCache(),
		logger:  logger,
	}
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
	s := &scrape{c: c, ctx: ctx, conn: c.conn, ch: ch}
	s.reading, s.readErr = c.reader.Read(ctx)
	if s.readErr != nil {
		c.failures.log(c.logger, "bulk stats reading failed", "", s.readErr)
	} else {
		domainsMetric.sendFloat(ch, float64(len(s.reading.Domains)))
		readDurationMetric.sendFloat(ch, s.reading.Duration.Seconds())
		if c.needSpecs() {
			s.specs = c.specs.lookup(ctx, s.reading.Domains)
		}
	}
	upMetric.sendFloat(ch, boolFloat(c.conn.Connected()))

	var wg sync.WaitGroup
	for _, sub := range c.enabled {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			err := sub.update(s)
			scrapeDurationMetric.sendFloat(ch, time.Since(start).Seconds(), sub.name)
			scrapeSuccessMetric.sendFloat(ch, boolFloat(err == nil), sub.name)
			if err != nil && err != s.readErr { // that one is logged above
				c.failures.log(c.logger, "collector failed", sub.name, err)
			}
		}()
	}
	wg.Wait()
}

// failureWarnEvery bounds the warnings of a failure that repeats on every
// scrape: one a minute for each sub-collector (and the bulk reading), debug
// lines in between.
const failureWarnEvery = time.Minute

type failureLog struct {
	mu   sync.Mutex
	last map[string]time.Time // of the last warning, by sub-collector
}

func (f *failureLog) log(logger *slog.Logger, msg, collector string, err error) {
	now := time.Now()
	f.mu.Lock()
	warn := now.Sub(f.last[collector]) >= failureWarnEvery
	if warn {
		if f.last == nil {
			f.last = map[string]time.Time{}
		}
		f.last[collector] = now
	}
	f.mu.Unlock()
	level := slog.LevelDebug
	if warn {
		level = slog.LevelWarn
	}
	if collector == "" {
		logger.Log(context.Background(), level, msg, "err", err)
		return
	}
	logger.Log(context.Background(), level, msg, "collector", collector, "err", err)
}

func (c *Collector) needSpecs() bool {
	for _, sub := range c.enabled {
		if sub.needsSpec {
			return true
		}
	}
	return false
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
