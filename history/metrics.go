package history

import (
	"github.com/prometheus/client_golang/prometheus"
)

var (
	lastDurationDesc = prometheus.NewDesc("vadvisor_history_last_sample_duration_seconds",
		"Time the last successful history tick took, reading libvirt included.", nil, nil)
	lastTimeDesc = prometheus.NewDesc("vadvisor_history_last_sample_timestamp_seconds",
		"When the reading of the last successful history tick was taken.", nil, nil)
	samplesDesc = prometheus.NewDesc("vadvisor_history_samples_total",
		"History ticks that recorded a reading of all VMs.", nil, nil)
	failuresDesc = prometheus.NewDesc("vadvisor_history_sample_failures_total",
		"History ticks that got no reading from libvirt (a gap in the history).", nil, nil)
	missedDesc = prometheus.NewDesc("vadvisor_history_missed_ticks_total",
		"History ticks skipped because the previous one overran the interval.", nil, nil)
	vmsDesc = prometheus.NewDesc("vadvisor_history_vms",
		"VMs with samples in the history.", nil, nil)
	memoryDesc = prometheus.NewDesc("vadvisor_history_bytes",
		"Heap held by the history's compressed samples.", nil, nil)
)

// Describe implements prometheus.Collector.
func (h *History) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{lastDurationDesc, lastTimeDesc, samplesDesc, failuresDesc, missedDesc, vmsDesc, memoryDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (h *History) Collect(ch chan<- prometheus.Metric) {
	h.statsMu.Lock()
	s := h.stats
	h.statsMu.Unlock()
	if s.samples > 0 {
		ch <- prometheus.MustNewConstMetric(lastDurationDesc, prometheus.GaugeValue, s.lastDuration.Seconds())
		ch <- prometheus.MustNewConstMetric(lastTimeDesc, prometheus.GaugeValue, float64(s.lastTime.UnixNano())/1e9)
	}
	ch <- prometheus.MustNewConstMetric(samplesDesc, prometheus.CounterValue, float64(s.samples))
	ch <- prometheus.MustNewConstMetric(failuresDesc, prometheus.CounterValue, float64(s.failures))
	ch <- prometheus.MustNewConstMetric(missedDesc, prometheus.CounterValue, float64(s.missed))

	h.mu.RLock()
	vms, memory := len(h.series), h.memory()
	h.mu.RUnlock()
	ch <- prometheus.MustNewConstMetric(vmsDesc, prometheus.GaugeValue, float64(vms))
	ch <- prometheus.MustNewConstMetric(memoryDesc, prometheus.GaugeValue, float64(memory))
}
