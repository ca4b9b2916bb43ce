package collector

import (
	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
)

func init() {
	registerCollector(factory{
		name:            domainFamilies.collector,
		help:            "domain info, state, CPU time (total, user, system), memory and vCPU count",
		defaultOn:       true,
		groups:          libvirt.DomainStatsState | libvirt.DomainStatsCPUTotal | libvirt.DomainStatsBalloon | libvirt.DomainStatsVCPU,
		needsDefinition: true,
		build:           stateless(updateDomain),
	})
}

// domainFamilies are this file's and reason.go's: libvirt_domain_*.
var domainFamilies = group{namespace: namespace, subsystem: "domain", collector: "domain"}

var (
	domainInfo = domainFamilies.gauge("info",
		"Static facts about a domain; the uuid is the key of the REST API.",
		"domain", "uuid", "os_type", "os_type_arch", "os_type_machine").
		from(domstats.Count, "<uuid>", "<os><type>")
	domainState = domainFamilies.gauge("info_state",
		"Domain state: 0 no state, 1 running, 2 blocked, 3 paused, 4 shutting down, 5 shut off, 6 crashed, 7 pm-suspended.",
		"domain", "state_desc").
		from(domstats.Count, "state.state")
	domainMaxMemory = domainFamilies.gauge("info_maximum_memory_bytes",
		"Maximum memory of a running domain.", "domain").
		from(domstats.KiB, "balloon.maximum")
	domainMemory = domainFamilies.gauge("info_memory_usage_bytes",
		"Memory currently given to a running domain (balloon size).", "domain").
		from(domstats.KiB, "balloon.current")
	domainVCPUs = domainFamilies.gauge("info_virtual_cpus",
		"Number of virtual CPUs of a running domain.", "domain").
		from(domstats.Count, "vcpu.current")
	domainCPU      = fieldMetrics(domainFamilies, "cpu.", domstats.CPUFields, "domain")
	domainTimedOut = domainFamilies.gauge("timed_out",
		"1 if libvirt could not give the domain's monitor-backed statistics in time (e.g. a hung guest); those series are then absent, never 0.",
		"domain").
		from(domstats.Count, "virConnectGetAllDomainStats")
)

var stateNames = map[uint64]string{
	uint64(libvirt.DomainNostate):     "no state",
	uint64(libvirt.DomainRunning):     "running",
	uint64(libvirt.DomainBlocked):     "blocked",
	uint64(libvirt.DomainPaused):      "paused",
	uint64(libvirt.DomainShutdown):    "shutting down",
	uint64(libvirt.DomainShutoff):     "shut off",
	uint64(libvirt.DomainCrashed):     "crashed",
	uint64(libvirt.DomainPmsuspended): "pm suspended",
}

func updateDomain(s *scrape) error {
	doms, err := s.domains()
	if err != nil {
		return err
	}
	for i := range doms {
		d := &doms[i]
		if def := s.defs[d.UUID]; def != nil {
			s.ch <- def.infoFor(d.Name, d.UUID).domain
		} else { // definition unavailable: still tell name and uuid
			domainInfo.sendFloat(s.ch, 1, d.Name, libvirtval.UUIDString(d.UUID), "", "", "")
		}
		if d.State.OK {
			name, ok := stateNames[d.State.V]
			if !ok {
				name = "unknown"
			}
			domainState.send(s.ch, d.State, d.Name, name)
			sendStateReason(s, d, name)
		}
		if !d.Active() {
			continue // a shut-off domain has no live figures
		}
		domainMaxMemory.send(s.ch, d.Balloon.Maximum, d.Name)
		domainMemory.send(s.ch, d.Balloon.Current, d.Name)
		domainVCPUs.send(s.ch, d.VCPUCurrent, d.Name)
		sendFields(s.ch, domainCPU, d, d.Name)
		domainTimedOut.sendFloat(s.ch, boolFloat(d.Incomplete), d.Name)
	}
	return nil
}

// activeDomains calls fn for each running or paused domain of the reading.
func activeDomains(s *scrape, fn func(d *domstats.Domain)) error {
	doms, err := s.domains()
	if err != nil {
		return err
	}
	for i := range doms {
		if doms[i].Active() {
			fn(&doms[i])
		}
	}
	return nil
}
