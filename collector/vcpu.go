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
	vcpuCurrent = gauge(vcpuSubsystem, "current", "Number of online vCPUs.", "domain")
	vcpuMaximum = gauge(vcpuSubsystem, "maximum", "Maximum number of vCPUs.", "domain")
	vcpuState   = gauge(vcpuSubsystem, "state", "vCPU state: 0 offline, 1 running, 2 blocked.", "domain", "vcpu")
	vcpuTime    = counter(vcpuSubsystem, "time_seconds_total", "Time the vCPU ran.", "domain", "vcpu")
	vcpuWait    = counter(vcpuSubsystem, "wait_seconds_total", "Time the vCPU waited on I/O (where the hypervisor reports it).", "domain", "vcpu")
	vcpuDelay   = counter(vcpuSubsystem, "delay_seconds_total", "Time the vCPU was runnable but waited for a host CPU (steal).", "domain", "vcpu")
)

func updateVCPU(s *scrape) error {
	return activeDomains(s, func(d *domstats.Domain) {
		vcpuCurrent.send(s.ch, d.VCPUCurrent, 1, d.Name)
		vcpuMaximum.send(s.ch, d.VCPUMaximum, 1, d.Name)
		for i, v := range d.VCPUs {
			idx := strconv.Itoa(i)
			vcpuState.send(s.ch, v.State, 1, d.Name, idx)
			vcpuTime.send(s.ch, v.Time, nanoseconds, d.Name, idx)
			vcpuWait.send(s.ch, v.Wait, nanoseconds, d.Name, idx)
			vcpuDelay.send(s.ch, v.Delay, nanoseconds, d.Name, idx)
		}
	})
}
