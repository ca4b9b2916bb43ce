package collector

import (
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
)

// metric is one family: its descriptor, its value type, and how many of
// the unit libvirt gives its values in make one base unit.
type metric struct {
	desc    *prometheus.Desc
	typ     prometheus.ValueType
	perUnit float64
}

// A group declares the families of one file: their names begin with its
// namespace and subsystem, and its sub-collector exports them (every
// scrape exports those of the group without one).
type group struct {
	namespace, subsystem string
	collector            string
}

// gauge declares the gauge <namespace>_<subsystem>_<name>.
func (g group) gauge(name, help string, labels ...string) metric {
	return g.newMetric(name, help, prometheus.GaugeValue, labels...)
}

// counter declares the counter <namespace>_<subsystem>_<name>.
func (g group) counter(name, help string, labels ...string) metric {
	return g.newMetric(name, help, prometheus.CounterValue, labels...)
}

// family is all that is declared of a family: its name, help and type,
// which gather gives each scrape's series, and what docs/metrics.md says
// of it besides.
type family struct {
	*dto.MetricFamily
	labels    []string
	collector string   // the sub-collector that exports it; "" for every scrape
	sources   []string // libvirt's names of what it exports; none: vAdvisor's own figure
	unit      domstats.Unit
}

// families holds every family of the package, by descriptor
// (client_golang keeps a descriptor's contents to itself): gather builds
// a scrape's families from them, Describe sends their descriptors, and
// Families documents them.
var families = map[*prometheus.Desc]*family{}

func (g group) newMetric(name, help string, typ prometheus.ValueType, labels ...string) metric {
	fqName := prometheus.BuildFQName(g.namespace, g.subsystem, name)
	m := metric{prometheus.NewDesc(fqName, help, labels, nil), typ, 1}
	kind := dto.MetricType_GAUGE
	if typ == prometheus.CounterValue {
		kind = dto.MetricType_COUNTER
	}
	families[m.desc] = &family{
		MetricFamily: &dto.MetricFamily{Name: &fqName, Help: &help, Type: &kind},
		labels:       labels,
		collector:    g.collector,
	}
	return m
}

// from says where libvirt gives the family's values (the fields of a
// stats group, or the calls) and in which unit; send converts that unit
// into the base unit.
func (m metric) from(unit domstats.Unit, sources ...string) metric {
	f := families[m.desc]
	per, ok := perUnit[unit]
	if !ok {
		panic(fmt.Sprintf("collector: %s has a unit (%d) with no conversion", f.GetName(), unit))
	}
	f.sources, f.unit = sources, unit
	m.perUnit = per
	return m
}

// send exports v in base units, but only if libvirt returned it.
func (m metric) send(ch chan<- prometheus.Metric, v libvirtval.Value, labels ...string) {
	if v.OK {
		ch <- prometheus.MustNewConstMetric(m.desc, m.typ, float64(v.V)/m.perUnit, labels...)
	}
}

// sendFloat exports v as it is: a figure vAdvisor made, or one already
// in base units.
func (m metric) sendFloat(ch chan<- prometheus.Metric, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(m.desc, m.typ, v, labels...)
}

// fieldMetric is the metric of a statistic domstats describes (a Field
// with a metric name).
type fieldMetric[T any] struct {
	metric
	at func(*T) *libvirtval.Value
}

// fieldMetrics declares a family in g for each field of fs with a metric
// name, with the given labels; prefix begins libvirt's names of the fields
// (balloon. for balloon.rss, block.<n>. for a disk's).
func fieldMetrics[T any](g group, prefix string, fs []domstats.Field[T], labels ...string) []fieldMetric[T] {
	var ms []fieldMetric[T]
	for _, f := range fs {
		if f.Metric == "" {
			continue
		}
		declare := g.gauge
		if f.Kind == domstats.Counter {
			declare = g.counter
		}
		m := declare(f.Metric, f.Help, labels...).from(f.Unit, prefix+f.Key)
		ms = append(ms, fieldMetric[T]{m, f.At})
	}
	return ms
}

// sendFields exports t's fields that libvirt returned, in base units.
func sendFields[T any](ch chan<- prometheus.Metric, ms []fieldMetric[T], t *T, labels ...string) {
	for _, m := range ms {
		m.send(ch, *m.at(t), labels...)
	}
}

// perUnit is how many of each of libvirt's units make one base unit.
var perUnit = map[domstats.Unit]float64{
	domstats.Count:        1,
	domstats.Seconds:      1,
	domstats.Nanoseconds:  nanoseconds,
	domstats.Milliseconds: milliseconds,
	domstats.KiB:          kibibytes,
	domstats.MiB:          mebibytes,
}

// How many of libvirt's units make one base unit (divisors that keep whole
// values exact).
const (
	nanoseconds  = 1e9
	milliseconds = 1e3
	kibibytes    = 1.0 / 1024
	mebibytes    = 1.0 / (1 << 20)
)

// Family is what docs/metrics.md says of a family.
type Family struct {
	Name, Help string
	Type       dto.MetricType
	Labels     []string
	// Collector is the sub-collector that exports it; "" for every scrape.
	Collector string
	// Sources are libvirt's names of what it exports (stats fields, calls,
	// elements of the domain XML); none for a figure of vAdvisor's own.
	Sources []string
	// Unit is libvirt's unit of the sources, which the family exports in
	// the base unit.
	Unit domstats.Unit
}

// Families are the collector's families, by name.
func Families() []Family {
	out := make([]Family, 0, len(families))
	for _, f := range families {
		out = append(out, Family{
			Name: f.GetName(), Help: f.GetHelp(), Type: f.GetType(),
			Labels: f.labels, Collector: f.collector, Sources: f.sources, Unit: f.unit,
		})
	}
	slices.SortFunc(out, func(a, b Family) int { return strings.Compare(a.Name, b.Name) })
	return out
}
