package collector

import (
	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
)

func init() {
	register(subCollector{
		name:      "block",
		help:      "per-disk I/O counters, sizes and disk facts",
		defaultOn: true,
		groups:    libvirt.DomainStatsBlock,
		needsSpec: true,
		update:    updateBlock,
	})
}

// blockSubsystem names this file's metrics: libvirt_domain_block_stats_*.
const blockSubsystem = "domain_block_stats"

var (
	blockInfo = gauge(blockSubsystem, "info", "Facts about a disk from the domain definition.",
		"domain", "target_device", "disk_type", "target_bus", "driver_name", "driver_type", "driver_cache", "driver_discard",
		"serial", "source_file", "source_protocol")
	blockReadBytes  = counter(blockSubsystem, "read_bytes_total", "Bytes read.", "domain", "target_device")
	blockReadReqs   = counter(blockSubsystem, "read_requests_total", "Read requests.", "domain", "target_device")
	blockReadTime   = counter(blockSubsystem, "read_time_seconds_total", "Time spent reading.", "domain", "target_device")
	blockWriteBytes = counter(blockSubsystem, "write_bytes_total", "Bytes written.", "domain", "target_device")
	blockWriteReqs  = counter(blockSubsystem, "write_requests_total", "Write requests.", "domain", "target_device")
	blockWriteTime  = counter(blockSubsystem, "write_time_seconds_total", "Time spent writing.", "domain", "target_device")
	blockFlushReqs  = counter(blockSubsystem, "flush_requests_total", "Flush requests.", "domain", "target_device")
	blockFlushTime  = counter(blockSubsystem, "flush_time_seconds_total", "Time spent flushing.", "domain", "target_device")
	blockErrors     = counter(blockSubsystem, "errors_total", "I/O errors (where the hypervisor reports them).", "domain", "target_device")
	blockCapacity   = gauge(blockSubsystem, "capacity_bytes", "Size of the disk as the guest sees it.", "domain", "target_device")
	blockAllocation = gauge(blockSubsystem, "allocation_bytes", "Highest written offset of the disk image (its allocation).", "domain", "target_device")
	blockPhysical   = gauge(blockSubsystem, "physical_bytes", "Size of the disk image on the host.", "domain", "target_device")
)

func updateBlock(s *scrape) error {
	return activeDomains(s, func(d *domstats.Domain) {
		if sp := s.specs[d.UUID]; sp != nil {
			for _, m := range sp.infoFor(d.Name, d.UUID).blocks {
				s.ch <- m
			}
		}
		seen := map[string]bool{}
		for _, b := range d.Blocks {
			// Without a name there is no label to tell disks apart; a name
			// seen twice would make duplicate series.
			if b.Name == "" || seen[b.Name] {
				continue
			}
			seen[b.Name] = true
			n, t := d.Name, b.Name
			blockReadBytes.send(s.ch, b.RdBytes, 1, n, t)
			blockReadReqs.send(s.ch, b.RdReqs, 1, n, t)
			blockReadTime.send(s.ch, b.RdTimes, nanoseconds, n, t)
			blockWriteBytes.send(s.ch, b.WrBytes, 1, n, t)
			blockWriteReqs.send(s.ch, b.WrReqs, 1, n, t)
			blockWriteTime.send(s.ch, b.WrTimes, nanoseconds, n, t)
			blockFlushReqs.send(s.ch, b.FlReqs, 1, n, t)
			blockFlushTime.send(s.ch, b.FlTimes, nanoseconds, n, t)
			blockErrors.send(s.ch, b.Errors, 1, n, t)
			blockCapacity.send(s.ch, b.Capacity, 1, n, t)
			blockAllocation.send(s.ch, b.Allocation, 1, n, t)
			blockPhysical.send(s.ch, b.Physical, 1, n, t)
		}
	})
}
