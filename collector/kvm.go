package collector

import (
	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
)

func init() {
	register(subCollector{
		name: "kvm",
		// Off by default: the vm group makes libvirtd query each running
		// domain's QEMU for its statistics, and only KVM guests have any.
		help:   "KVM's own statistics of each VM (libvirt's vm group)",
		groups: libvirt.DomainStatsVm,
		update: updateKVM,
	})
}

// kvmSubsystem names this file's metrics: libvirt_domain_kvm_*.
const kvmSubsystem = "domain_kvm"

// One family per kind of statistic, the statistic's kernel name as a label:
// the names are the hypervisor's, not known before a scrape, and a family
// is declared once.
var kvmStats = [...]metric{
	domstats.KVMSum: counter(kvmSubsystem, "stat_total",
		"A cumulative KVM statistic of the VM (libvirt's vm.<stat>.sum).", "domain", "stat"),
	domstats.KVMCur: gauge(kvmSubsystem, "stat_current",
		"A KVM statistic of the VM, its current value (libvirt's vm.<stat>.cur).", "domain", "stat"),
	domstats.KVMMax: gauge(kvmSubsystem, "stat_max",
		"A KVM statistic of the VM, its highest value (libvirt's vm.<stat>.max).", "domain", "stat"),
}

func updateKVM(s *scrape) error {
	return activeDomains(s, func(d *domstats.Domain) {
		for _, st := range d.KVM {
			kvmStats[st.Kind].sendFloat(s.ch, float64(st.Value), d.Name, st.Name)
		}
	})
}
