package collector

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vadvisor/vadvisor/domstats"
)

// metric is one family: its descriptor and type.
type metric struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
}

func gauge(name, help string, labels ...string) metric {
	return newMetric(name, help, dto.MetricType_GAUGE, prometheus.GaugeValue, labels)
}

func counter(name, help string, labels ...string) metric {
	return newMetric(name, help, dto.MetricType_COUNTER, prometheus.CounterValue, labels)
}

// families holds the name, help and type of every descriptor of this
// package, which client_golang keeps to itself, so that a scrape can be
// gathered without a registry (see gather.go).
var families = map[*prometheus.Desc]*dto.MetricFamily{}

func newMetric(name, help string, typ dto.MetricType, valueType prometheus.ValueType, labels []string) metric {
	m := metric{prometheus.NewDesc(name, help, labels, nil), valueType}
	families[m.desc] = &dto.MetricFamily{Name: &name, Help: &help, Type: &typ}
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

// How many of libvirt's units make one base unit (divisors that keep whole
// values exact).
const (
	nanoseconds  = 1e9
	milliseconds = 1e3
	kibibytes    = 1.0 / 1024
	mebibytes    = 1.0 / (1 << 20)
)
