package collector

import (
	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
)

func init() {
	register(subCollector{
		name:   "perf",
		help:   "perf event counters of domains that have perf events enabled in their definition",
		groups: libvirt.DomainStatsPerf,
		update: updatePerf,
	})
}

// perfSubsystem names this file's metrics: libvirt_domain_perf_*.
const perfSubsystem = "domain_perf"

var (
	perfEvents = counter(perfSubsystem, "events_total",
		"Count of a perf event (cpu_cycles, instructions, cache_misses, ...).", "domain", "event")
	perfCacheOccupancy = gauge(perfSubsystem, "cache_occupancy_bytes",
		"Last level cache used by the domain (perf event cmt).", "domain")
	perfMemoryBandwidth = gauge(perfSubsystem, "memory_bandwidth_bytes_per_second",
		"Memory bandwidth used by the domain (perf events mbmt: scope total, mbml: scope local).", "domain", "scope")
)

func updatePerf(s *scrape) error {
	return activeDomains(s, func(d *domstats.Domain) {
		for _, p := range d.Perf {
			v := domstats.Value{V: p.Value, OK: true}
			switch p.Event {
			case "cmt":
				perfCacheOccupancy.send(s.ch, v, 1, d.Name)
			case "mbmt":
				perfMemoryBandwidth.send(s.ch, v, 1, d.Name, "total")
			case "mbml":
				perfMemoryBandwidth.send(s.ch, v, 1, d.Name, "local")
			default:
				perfEvents.send(s.ch, v, 1, d.Name, p.Event)
			}
		}
	})
}
