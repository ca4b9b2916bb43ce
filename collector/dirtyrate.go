package collector

import (
	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
)

func init() {
	register(subCollector{
		name:   "dirtyrate",
		help:   "memory dirty rate, once measured with virsh domdirtyrate-calc",
		groups: libvirt.DomainStatsDirtyrate,
		update: updateDirtyRate,
	})
}

// dirtyRateSubsystem names this file's metrics: libvirt_domain_dirty_rate_*.
const dirtyRateSubsystem = "domain_dirty_rate"

var (
	dirtyRateStatus = gauge(dirtyRateSubsystem, "calc_status", "Dirty rate calculation: 0 not started, 1 measuring, 2 measured.", "domain")
	dirtyRateStart  = gauge(dirtyRateSubsystem, "calc_start_timestamp_seconds", "When the last dirty rate calculation started.", "domain")
	dirtyRatePeriod = gauge(dirtyRateSubsystem, "calc_period_seconds", "Length of the last dirty rate calculation.", "domain")
	dirtyRate       = gauge(dirtyRateSubsystem, "bytes_per_second", "Memory dirty rate from the last calculation.", "domain")
)

func updateDirtyRate(s *scrape) error {
	return activeDomains(s, func(d *domstats.Domain) {
		r := &d.DirtyRate
		dirtyRateStatus.send(s.ch, r.CalcStatus, 1, d.Name)
		if r.CalcStartTime.V == 0 {
			return // never measured: there is no rate
		}
		dirtyRateStart.send(s.ch, r.CalcStartTime, 1, d.Name)
		dirtyRatePeriod.send(s.ch, r.CalcPeriod, 1, d.Name)
		dirtyRate.send(s.ch, r.MegabytesPerSecond, mebibytes, d.Name)
	})
}
