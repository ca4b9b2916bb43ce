package collector

import (
	"strconv"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
)

func init() {
	registerCollector(factory{
		name:      vcpuFamilies.collector,
		help:      "per-vCPU state, time, wait and delay (steal)",
		defaultOn: true,
		groups:    libvirt.DomainStatsVCPU,
		build:     stateless(updateVCPU),
	})
}

// vcpuFamilies are this file's: libvirt_domain_vcpu_*.
var vcpuFamilies = group{namespace: namespace, subsystem: "domain_vcpu", collector: "vcpu"}

var (
	vcpuCounts = fieldMetrics(vcpuFamilies, "vcpu.", domstats.VCPUCountFields, "domain")
	vcpuStats  = fieldMetrics(vcpuFamilies, "vcpu.<n>.", domstats.VCPUFields, "domain", "vcpu")
)

func updateVCPU(s *scrape) error {
	return activeDomains(s, func(d *domstats.Domain) {
		sendFields(s.ch, vcpuCounts, d, d.Name)
		for i := range d.VCPUs {
			sendFields(s.ch, vcpuStats, &d.VCPUs[i], d.Name, strconv.Itoa(i))
		}
	})
}
