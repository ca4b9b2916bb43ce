package collector

import (
	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
)

func init() {
	registerCollector(factory{
		name: kvmFamilies.collector,
		// Off by default: the vm group makes libvirtd query each running
		// domain's QEMU for its statistics, and only KVM guests have any.
		help:   "KVM's own statistics of each VM (libvirt's vm group)",
		groups: libvirt.DomainStatsVm,
		build:  stateless(updateKVM),
	})
}

// kvmFamilies are this file's: libvirt_domain_kvm_*.
var kvmFamilies = group{namespace: namespace, subsystem: "domain_kvm", collector: "kvm"}

// One family per kind of statistic, the statistic's kernel name as a label:
// the names are the hypervisor's, not known before a scrape, and a family
// is declared once.
var kvmStats = [...]metric{
	domstats.KVMSum: kvmFamilies.counter("stat_total",
		"A cumulative KVM statistic of the VM (libvirt's vm.<stat>.sum).", "domain", "stat").
		from(domstats.Count, "vm.<stat>.sum"),
	domstats.KVMCur: kvmFamilies.gauge("stat_current",
		"A KVM statistic of the VM, its current value (libvirt's vm.<stat>.cur).", "domain", "stat").
		from(domstats.Count, "vm.<stat>.cur"),
	domstats.KVMMax: kvmFamilies.gauge("stat_max",
		"A KVM statistic of the VM, its highest value (libvirt's vm.<stat>.max).", "domain", "stat").
		from(domstats.Count, "vm.<stat>.max"),
}

func updateKVM(s *scrape) error {
	return activeDomains(s, func(d *domstats.Domain) {
		for _, st := range d.KVM {
			kvmStats[st.Kind].sendFloat(s.ch, float64(st.Value), d.Name, st.Name)
		}
	})
}
