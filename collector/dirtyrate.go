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

var dirtyRateStats = fieldMetrics(dirtyRateSubsystem, domstats.DirtyRateFields, "domain")

func updateDirtyRate(s *scrape) error {
	return activeDomains(s, func(d *domstats.Domain) {
		for _, m := range dirtyRateStats {
			if m.at(d) != &d.DirtyRate.CalcStatus && d.DirtyRate.CalcStartTime.V == 0 {
				continue // never measured: there is no rate
			}
			m.send(s.ch, *m.at(d), m.perUnit, d.Name)
		}
	})
}
