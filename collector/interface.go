package collector

import (
	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
)

func init() {
	registerCollector(factory{
		name:            netFamilies.collector,
		help:            "per-interface network counters and interface facts",
		defaultOn:       true,
		groups:          libvirt.DomainStatsInterface,
		needsDefinition: true,
		build:           stateless(updateNet),
	})
}

// netFamilies are this file's: libvirt_domain_interface_stats_*.
var netFamilies = group{namespace: namespace, subsystem: "domain_interface_stats", collector: "interface"}

var (
	netInfo = netFamilies.gauge("info", "Facts about a network interface from the domain definition.",
		"domain", "target_device", "interface_type", "source_bridge", "mac_address", "model_type", "mtu_size").
		from(domstats.Count, "<interface>")
	netStats = fieldMetrics(netFamilies, "net.<n>.", domstats.NetFields, "domain", "target_device")
)

func updateNet(s *scrape) error {
	return activeDomains(s, func(d *domstats.Domain) {
		if def := s.defs[d.UUID]; def != nil {
			for _, m := range def.infoFor(d.Name, d.UUID).nets {
				s.ch <- m
			}
		}
		seen := map[string]bool{}
		for i := range d.Nets {
			n := &d.Nets[i]
			// An interface with no host device (e.g. user networking or
			// SR-IOV passthrough) has no name to label it by.
			if n.Name == "" || seen[n.Name] {
				continue
			}
			seen[n.Name] = true
			sendFields(s.ch, netStats, n, d.Name, n.Name)
		}
	})
}
