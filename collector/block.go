package collector

import (
	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
)

func init() {
	registerCollector(factory{
		name:            blockFamilies.collector,
		help:            "per-disk I/O counters, sizes and disk facts",
		defaultOn:       true,
		groups:          libvirt.DomainStatsBlock,
		needsDefinition: true,
		build:           stateless(updateBlock),
	})
}

// blockFamilies are this file's: libvirt_domain_block_stats_*.
var blockFamilies = group{namespace: namespace, subsystem: "domain_block_stats", collector: "block"}

var (
	blockInfo = blockFamilies.gauge("info", "Facts about a disk from the domain definition.",
		"domain", "target_device", "disk_type", "target_bus", "driver_name", "driver_type", "driver_cache", "driver_discard",
		"serial", "source_file", "source_protocol").
		from(domstats.Count, "<disk>")
	blockStats = fieldMetrics(blockFamilies, "block.<n>.", domstats.BlockFields, "domain", "target_device")
)

func updateBlock(s *scrape) error {
	return activeDomains(s, func(d *domstats.Domain) {
		if def := s.defs[d.UUID]; def != nil {
			for _, m := range def.infoFor(d.Name, d.UUID).blocks {
				s.ch <- m
			}
		}
		seen := map[string]bool{}
		for i := range d.Blocks {
			b := &d.Blocks[i]
			// Without a name there is no label to tell disks apart; a name
			// seen twice would make duplicate series.
			if b.Name == "" || seen[b.Name] {
				continue
			}
			seen[b.Name] = true
			sendFields(s.ch, blockStats, b, d.Name, b.Name)
		}
	})
}
