package collector

import (
	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
)

func init() {
	registerCollector(factory{
		name:   dirtyRateFamilies.collector,
		help:   "memory dirty rate, once measured with virsh domdirtyrate-calc",
		groups: libvirt.DomainStatsDirtyrate,
		build:  stateless(updateDirtyRate),
	})
}

// dirtyRateFamilies are this file's: libvirt_domain_dirty_rate_*.
var dirtyRateFamilies = group{namespace: namespace, subsystem: "domain_dirty_rate", collector: "dirtyrate"}

var dirtyRateStats = fieldMetrics(dirtyRateFamilies, "dirtyrate.", domstats.DirtyRateFields, "domain")

func updateDirtyRate(s *scrape) error {
	return activeDomains(s, func(d *domstats.Domain) {
		for _, m := range dirtyRateStats {
			if m.at(d) != &d.DirtyRate.CalcStatus && d.DirtyRate.CalcStartTime.V == 0 {
				continue // never measured: there is no rate
			}
			m.send(s.ch, *m.at(d), d.Name)
		}
	})
}
