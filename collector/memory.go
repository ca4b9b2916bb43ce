package collector

import (
	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
)

func init() {
	registerCollector(factory{
		name:            memFamilies.collector,
		help:            "balloon and guest memory statistics (guest figures need a balloon driver in the guest)",
		defaultOn:       true,
		needsDefinition: true,
		groups:          libvirt.DomainStatsBalloon,
		build:           stateless(updateMemory),
	})
}

// memFamilies are this file's: libvirt_domain_memory_stats_*.
var memFamilies = group{namespace: namespace, subsystem: "domain_memory_stats", collector: "memory"}

var (
	memStats    = fieldMetrics(memFamilies, "balloon.", domstats.BalloonFields, "domain")
	memUsedPerc = memFamilies.gauge("used_percent",
		"Share of the guest's memory in use: (available - usable) / available x 100 (guest-reported).", "domain").
		from(domstats.Count, "balloon.available", "balloon.usable")
	memPeriod = memFamilies.gauge("period_seconds",
		"How often the guest reports its memory figures (the balloon's stats period in the domain XML); 0: never, so the guest-reported series are absent.", "domain").
		from(domstats.Seconds, "<memballoon><stats period>")
)

func updateMemory(s *scrape) error {
	return activeDomains(s, func(d *domstats.Domain) {
		b, n := &d.Balloon, d.Name
		if def := s.defs[d.UUID]; def != nil {
			memPeriod.sendFloat(s.ch, float64(def.statsPeriod), n)
		}
		for _, m := range memStats {
			if m.at(d) == &b.LastUpdate && b.LastUpdate.V == 0 {
				continue // the guest never reported
			}
			m.send(s.ch, *m.at(d), n)
		}
		if b.Available.OK && b.Usable.OK && b.Available.V > 0 && b.Usable.V <= b.Available.V {
			memUsedPerc.sendFloat(s.ch, float64(b.Available.V-b.Usable.V)/float64(b.Available.V)*100, n)
		}
	})
}
