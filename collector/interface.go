package collector

import (
	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
)

func init() {
	register(subCollector{
		name:      "interface",
		help:      "per-interface network counters and interface facts",
		defaultOn: true,
		groups:    libvirt.DomainStatsInterface,
		needsSpec: true,
		update:    updateInterface,
	})
}

// ifaceSubsystem names this file's metrics: libvirt_domain_interface_stats_*.
const ifaceSubsystem = "domain_interface_stats"

var (
	ifaceInfo = gauge(ifaceSubsystem, "info", "Facts about a network interface from the domain definition.",
		"domain", "target_device", "interface_type", "source_bridge", "mac_address", "model_type", "mtu_size")
	ifaceRxBytes = counter(ifaceSubsystem, "receive_bytes_total", "Bytes received.", "domain", "target_device")
	ifaceRxPkts  = counter(ifaceSubsystem, "receive_packets_total", "Packets received.", "domain", "target_device")
	ifaceRxErrs  = counter(ifaceSubsystem, "receive_errors_total", "Receive errors.", "domain", "target_device")
	ifaceRxDrops = counter(ifaceSubsystem, "receive_drops_total", "Received packets dropped.", "domain", "target_device")
	ifaceTxBytes = counter(ifaceSubsystem, "transmit_bytes_total", "Bytes transmitted.", "domain", "target_device")
	ifaceTxPkts  = counter(ifaceSubsystem, "transmit_packets_total", "Packets transmitted.", "domain", "target_device")
	ifaceTxErrs  = counter(ifaceSubsystem, "transmit_errors_total", "Transmit errors.", "domain", "target_device")
	ifaceTxDrops = counter(ifaceSubsystem, "transmit_drops_total", "Transmitted packets dropped.", "domain", "target_device")
)

func updateInterface(s *scrape) error {
	return activeDomains(s, func(d *domstats.Domain) {
		if sp := s.specs[d.UUID]; sp != nil {
			for _, m := range sp.infoFor(d.Name, d.UUID).ifaces {
				s.ch <- m
			}
		}
		seen := map[string]bool{}
		for _, nic := range d.Nets {
			// An interface with no host device (e.g. user networking or
			// SR-IOV passthrough) has no name to label it by.
			if nic.Name == "" || seen[nic.Name] {
				continue
			}
			seen[nic.Name] = true
			n, t := d.Name, nic.Name
			ifaceRxBytes.send(s.ch, nic.RxBytes, 1, n, t)
			ifaceRxPkts.send(s.ch, nic.RxPkts, 1, n, t)
			ifaceRxErrs.send(s.ch, nic.RxErrs, 1, n, t)
			ifaceRxDrops.send(s.ch, nic.RxDrop, 1, n, t)
			ifaceTxBytes.send(s.ch, nic.TxBytes, 1, n, t)
			ifaceTxPkts.send(s.ch, nic.TxPkts, 1, n, t)
			ifaceTxErrs.send(s.ch, nic.TxErrs, 1, n, t)
			ifaceTxDrops.send(s.ch, nic.TxDrop, 1, n, t)
		}
	})
}
