package collector

import (
	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
)

func init() {
	registerCollector(factory{
		name:      ifaceFamilies.collector,
		help:      "per-interface network counters and interface facts",
		defaultOn: true,
		groups:    libvirt.DomainStatsInterface,
		needsSpec: true,
		build:     stateless(updateInterface),
	})
}

// ifaceFamilies are this file's: libvirt_domain_interface_stats_*.
var ifaceFamilies = group{namespace: namespace, subsystem: "domain_interface_stats", collector: "interface"}

var (
	ifaceInfo = ifaceFamilies.gauge("info", "Facts about a network interface from the domain definition.",
		"domain", "target_device", "interface_type", "source_bridge", "mac_address", "model_type", "mtu_size").
		from(domstats.Count, "<interface>")
	ifaceStats = fieldMetrics(ifaceFamilies, "net.<n>.", domstats.NetFields, "domain", "target_device")
)

func updateInterface(s *scrape) error {
	return activeDomains(s, func(d *domstats.Domain) {
		if sp := s.specs[d.UUID]; sp != nil {
			for _, m := range sp.infoFor(d.Name, d.UUID).ifaces {
				s.ch <- m
			}
		}
		seen := map[string]bool{}
		for i := range d.Nets {
			nic := &d.Nets[i]
			// An interface with no host device (e.g. user networking or
			// SR-IOV passthrough) has no name to label it by.
			if nic.Name == "" || seen[nic.Name] {
				continue
			}
			seen[nic.Name] = true
			sendFields(s.ch, ifaceStats, nic, d.Name, nic.Name)
		}
	})
}
