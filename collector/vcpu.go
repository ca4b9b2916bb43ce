package collector

import (
	"strconv"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
)

func init() {
	register(subCollector{
		name:      "vcpu",
		help:      "per-vCPU state, time, wait and delay (steal)",
		defaultOn: true,
		groups:    libvirt.DomainStatsVCPU,
		update:    updateVCPU,
	})
}

// vcpuSubsystem names this file's metrics: libvirt_domain_vcpu_*.
const vcpuSubsystem = "domain_vcpu"

var (
	vcpuCounts = fieldMetrics(vcpuSubsystem, domstats.VCPUCountFields, "domain")
	vcpuStats  = fieldMetrics(vcpuSubsystem, domstats.VCPUFields, "domain", "vcpu")
)

func updateVCPU(s *scrape) error {
	return activeDomains(s, func(d *domstats.Domain) {
		sendFields(s.ch, vcpuCounts, d, d.Name)
		for i := range d.VCPUs {
			sendFields(s.ch, vcpuStats, &d.VCPUs[i], d.Name, strconv.Itoa(i))
		}
	})
}
