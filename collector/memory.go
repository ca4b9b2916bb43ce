package collector

import (
	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
)

func init() {
	register(subCollector{
		name:      "memory",
		help:      "balloon and guest memory statistics (guest figures need a balloon driver in the guest)",
		defaultOn: true,
		needsSpec: true,
		groups:    libvirt.DomainStatsBalloon,
		update:    updateMemory,
	})
}

// memSubsystem names this file's metrics: libvirt_domain_memory_stats_*.
const memSubsystem = "domain_memory_stats"

var (
	memStats    = fieldMetrics(memSubsystem, domstats.BalloonFields, "domain")
	memUsedPerc = gauge(memSubsystem, "used_percent", "Share of the guest's memory in use: (available - usable) / available x 100 (guest-reported).", "domain")
	memPeriod   = gauge(memSubsystem, "period_seconds", "How often the guest reports its memory figures (the balloon's stats period in the domain XML); 0: never, so the guest-reported series are absent.", "domain")
)

func updateMemory(s *scrape) error {
	return activeDomains(s, func(d *domstats.Domain) {
		b, n := &d.Balloon, d.Name
		if sp := s.specs[d.UUID]; sp != nil {
			memPeriod.sendFloat(s.ch, float64(sp.statsPeriod), n)
		}
		for _, m := range memStats {
			if m.at(d) == &b.LastUpdate && b.LastUpdate.V == 0 {
				continue // the guest never reported
			}
			m.send(s.ch, *m.at(d), m.perUnit, n)
		}
		if b.Available.OK && b.Usable.OK && b.Available.V > 0 && b.Usable.V <= b.Available.V {
			memUsedPerc.sendFloat(s.ch, float64(b.Available.V-b.Usable.V)/float64(b.Available.V)*100, n)
		}
	})
}
