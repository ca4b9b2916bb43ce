package collector

import (
	"strconv"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
)

func init() {
	registerCollector(factory{
		name: iothreadFamilies.collector,
		// Off by default: it costs libvirtd a monitor call per running
		// domain (about 7% of a scrape), and few domains define IOThreads.
		help:   "IOThread polling settings of domains that define IOThreads",
		groups: libvirt.DomainStatsIothread,
		build:  stateless(updateIOThread),
	})
}

// iothreadFamilies are this file's: libvirt_domain_iothread_*.
var iothreadFamilies = group{namespace: namespace, subsystem: "domain_iothread", collector: "iothread"}

var iothreadStats = fieldMetrics(iothreadFamilies, "iothread.<id>.", domstats.IOThreadFields, "domain", "iothread")

func updateIOThread(s *scrape) error {
	return activeDomains(s, func(d *domstats.Domain) {
		for i := range d.IOThreads {
			t := &d.IOThreads[i]
			sendFields(s.ch, iothreadStats, t, d.Name, strconv.FormatUint(t.ID, 10))
		}
	})
}
