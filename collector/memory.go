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
		groups:    libvirt.DomainStatsBalloon,
		update:    updateMemory,
	})
}

// memSubsystem names this file's metrics: libvirt_domain_memory_stats_*.
const memSubsystem = "domain_memory_stats"

var (
	memCurrent = gauge(memSubsystem, "current_balloon_bytes", "Current balloon size.", "domain")
	memMaximum = gauge(memSubsystem, "maximum_bytes", "Maximum balloon size.", "domain")
	memRSS     = gauge(memSubsystem, "rss_bytes", "Resident set size of the domain's process on the host.", "domain")
	memUsable  = gauge(memSubsystem, "usable_bytes", "Memory the guest can use without swapping (guest-reported).", "domain")
	memUnused  = gauge(memSubsystem, "unused_bytes", "Memory the guest leaves unused (guest-reported).", "domain")
	memAvail   = gauge(memSubsystem, "available_bytes", "Memory the guest sees (guest-reported).", "domain")
	memCaches  = gauge(memSubsystem, "disk_caches_bytes", "Guest memory used for disk caches that can be reclaimed (guest-reported).", "domain")
	// Named and typed as the inovex exporter does, so dashboards keep working;
	// they only ever grow.
	memSwapIn   = gauge(memSubsystem, "swap_in_bytes", "Memory swapped in by the guest since boot (guest-reported).", "domain")
	memSwapOut  = gauge(memSubsystem, "swap_out_bytes", "Memory swapped out by the guest since boot (guest-reported).", "domain")
	memMajor    = counter(memSubsystem, "major_fault_total", "Major page faults in the guest (guest-reported).", "domain")
	memMinor    = counter(memSubsystem, "minor_fault_total", "Minor page faults in the guest (guest-reported).", "domain")
	memPgalloc  = counter(memSubsystem, "hugetlb_pgalloc_total", "Successful huge page allocations in the guest (guest-reported).", "domain")
	memPgfail   = counter(memSubsystem, "hugetlb_pgfail_total", "Failed huge page allocations in the guest (guest-reported).", "domain")
	memUpdated  = gauge(memSubsystem, "last_update_timestamp_seconds", "When the guest last reported its memory statistics.", "domain")
	memUsedPerc = gauge(memSubsystem, "used_percent", "Share of the guest's memory in use: (available - usable) / available x 100 (guest-reported).", "domain")
)

func updateMemory(s *scrape) error {
	return activeDomains(s, func(d *domstats.Domain) {
		b, n := &d.Balloon, d.Name
		memCurrent.send(s.ch, b.Current, kibibytes, n)
		memMaximum.send(s.ch, b.Maximum, kibibytes, n)
		memRSS.send(s.ch, b.RSS, kibibytes, n)
		memUsable.send(s.ch, b.Usable, kibibytes, n)
		memUnused.send(s.ch, b.Unused, kibibytes, n)
		memAvail.send(s.ch, b.Available, kibibytes, n)
		memCaches.send(s.ch, b.DiskCaches, kibibytes, n)
		memSwapIn.send(s.ch, b.SwapIn, kibibytes, n)
		memSwapOut.send(s.ch, b.SwapOut, kibibytes, n)
		memMajor.send(s.ch, b.MajorFault, 1, n)
		memMinor.send(s.ch, b.MinorFault, 1, n)
		memPgalloc.send(s.ch, b.HugetlbPgalloc, 1, n)
		memPgfail.send(s.ch, b.HugetlbPgfail, 1, n)
		if b.LastUpdate.OK && b.LastUpdate.V > 0 {
			memUpdated.send(s.ch, b.LastUpdate, 1, n)
		}
		if b.Available.OK && b.Usable.OK && b.Available.V > 0 && b.Usable.V <= b.Available.V {
			memUsedPerc.sendFloat(s.ch, float64(b.Available.V-b.Usable.V)/float64(b.Available.V)*100, n)
		}
	})
}
