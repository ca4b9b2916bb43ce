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

// send exports v times scale, but only if libvirt returned it.
func (m metric) send(ch chan<- prometheus.Metric, v domstats.Value, scale float64, labels ...string) {
	if v.OK {
		ch <- prometheus.MustNewConstMetric(m.desc, m.typ, float64(v.V)*scale, labels...)
	}
}

func (m metric) sendFloat(ch chan<- prometheus.Metric, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(m.desc, m.typ, v, labels...)
}

// Unit conversions to base units.
const (
	nanoseconds = 1e-9
	kibibytes   = 1024
)
