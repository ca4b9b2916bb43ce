package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vadvisor/vadvisor/domstats"
)

// metric is one family: its descriptor and type.
type metric struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
}

func gauge(name, help string, labels ...string) metric {
	return metric{prometheus.NewDesc(name, help, labels, nil), prometheus.GaugeValue}
}

func counter(name, help string, labels ...string) metric {
	return metric{prometheus.NewDesc(name, help, labels, nil), prometheus.CounterValue}
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
