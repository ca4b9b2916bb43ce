package collector

import (
	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
)

func init() {
	registerCollector(factory{
		name:   perfFamilies.collector,
		help:   "perf event counters of domains that have perf events enabled in their definition",
		groups: libvirt.DomainStatsPerf,
		build:  stateless(updatePerf),
	})
}

// perfFamilies are this file's: libvirt_domain_perf_*.
var perfFamilies = group{namespace: namespace, subsystem: "domain_perf", collector: "perf"}

var (
	perfEvents = perfFamilies.counter("events_total",
		"Count of a perf event (cpu_cycles, instructions, cache_misses, ...).", "domain", "event").
		from(domstats.Count, "perf.<event>")
	perfCacheOccupancy = perfFamilies.gauge("cache_occupancy_bytes",
		"Last level cache used by the domain (perf event cmt).", "domain").
		from(domstats.Count, libvirt.DomainStatsPerfCmt)
	perfMemoryBandwidth = perfFamilies.gauge("memory_bandwidth_bytes_per_second",
		"Memory bandwidth used by the domain (perf events mbmt: scope total, mbml: scope local).", "domain", "scope").
		from(domstats.Count, libvirt.DomainStatsPerfMbmt, libvirt.DomainStatsPerfMbml)
)

func updatePerf(s *scrape) error {
	return activeDomains(s, func(d *domstats.Domain) {
		for _, p := range d.Perf {
			v := libvirtval.Value{V: p.Value, OK: true}
			switch p.Event {
			case "cmt":
				perfCacheOccupancy.send(s.ch, v, d.Name)
			case "mbmt":
				perfMemoryBandwidth.send(s.ch, v, d.Name, "total")
			case "mbml":
				perfMemoryBandwidth.send(s.ch, v, d.Name, "local")
			default:
				perfEvents.send(s.ch, v, d.Name, p.Event)
			}
		}
	})
}
