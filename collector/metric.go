package collector

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vadvisor/vadvisor/domstats"
)

// metric is one family: its descriptor and value type.
type metric struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
}

// gauge declares the gauge libvirt_<subsystem>_<name>.
func gauge(subsystem, name, help string, labels ...string) metric {
	return newMetric(prometheus.BuildFQName(namespace, subsystem, name), help, prometheus.GaugeValue, labels...)
}

// counter declares the counter libvirt_<subsystem>_<name>.
func counter(subsystem, name, help string, labels ...string) metric {
	return newMetric(prometheus.BuildFQName(namespace, subsystem, name), help, prometheus.CounterValue, labels...)
}

// families holds the name, help and type of every metric of the package,
// by descriptor (client_golang keeps them to itself): gather builds a
// scrape's families from them, and Describe sends their descriptors.
var families = map[*prometheus.Desc]*dto.MetricFamily{}

func newMetric(fqName, help string, typ prometheus.ValueType, labels ...string) metric {
	m := metric{prometheus.NewDesc(fqName, help, labels, nil), typ}
	family := dto.MetricType_GAUGE
	if typ == prometheus.CounterValue {
		family = dto.MetricType_COUNTER
	}
	families[m.desc] = &dto.MetricFamily{Name: &fqName, Help: &help, Type: &family}
	return m
}

// send exports v in base units (v / perUnit), but only if libvirt
// returned it.
func (m metric) send(ch chan<- prometheus.Metric, v domstats.Value, perUnit float64, labels ...string) {
	if v.OK {
		ch <- prometheus.MustNewConstMetric(m.desc, m.typ, float64(v.V)/perUnit, labels...)
	}
}

func (m metric) sendFloat(ch chan<- prometheus.Metric, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(m.desc, m.typ, v, labels...)
}

// fieldMetric is the metric of a statistic domstats describes (a Field
// with a metric name).
type fieldMetric[T any] struct {
	metric
	at      func(*T) *domstats.Value
	perUnit float64
}

// fieldMetrics declares libvirt_<subsystem>_<name> for each field of fs
// with a metric name, with the given labels.
func fieldMetrics[T any](subsystem string, fs []domstats.Field[T], labels ...string) []fieldMetric[T] {
	var ms []fieldMetric[T]
	for _, f := range fs {
		if f.Metric == "" {
			continue
		}
		declare := gauge
		if f.Kind == domstats.Counter {
			declare = counter
		}
		per, ok := perUnit[f.Unit]
		if !ok {
			panic(fmt.Sprintf("collector: %s has a unit (%d) with no conversion", f.Metric, f.Unit))
		}
		ms = append(ms, fieldMetric[T]{declare(subsystem, f.Metric, f.Help, labels...), f.At, per})
	}
	return ms
}

// sendFields exports t's fields that libvirt returned, in base units.
func sendFields[T any](ch chan<- prometheus.Metric, ms []fieldMetric[T], t *T, labels ...string) {
	for _, m := range ms {
		m.send(ch, *m.at(t), m.perUnit, labels...)
	}
}

// perUnit is how many of each of libvirt's units make one base unit.
var perUnit = map[domstats.Unit]float64{
	domstats.Count:       1,
	domstats.Seconds:     1,
	domstats.Nanoseconds: nanoseconds,
	domstats.KiB:         kibibytes,
	domstats.MiB:         mebibytes,
}

// How many of libvirt's units make one base unit (divisors that keep whole
// values exact).
const (
	nanoseconds  = 1e9
	milliseconds = 1e3
	kibibytes    = 1.0 / 1024
	mebibytes    = 1.0 / (1 << 20)
)
