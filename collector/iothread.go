package collector

import (
	"strconv"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
)

func init() {
	register(subCollector{
		name: "iothread",
		// Off by default: it costs libvirtd a monitor call per running
		// domain (about 7% of a scrape), and few domains define IOThreads.
		help:   "IOThread polling settings of domains that define IOThreads",
		groups: libvirt.DomainStatsIothread,
		update: updateIOThread,
	})
}

// iothreadSubsystem names this file's metrics: libvirt_domain_iothread_*.
const iothreadSubsystem = "domain_iothread"

var (
	iothreadPollMax    = gauge(iothreadSubsystem, "poll_max_seconds", "Maximum polling time of the IOThread (0: polling off).", "domain", "iothread")
	iothreadPollGrow   = gauge(iothreadSubsystem, "poll_grow", "Polling time growth factor of the IOThread.", "domain", "iothread")
	iothreadPollShrink = gauge(iothreadSubsystem, "poll_shrink", "Polling time shrink divisor of the IOThread.", "domain", "iothread")
)

func updateIOThread(s *scrape) error {
	return activeDomains(s, func(d *domstats.Domain) {
		for _, t := range d.IOThreads {
			id := strconv.FormatUint(t.ID, 10)
			iothreadPollMax.send(s.ch, t.PollMaxNs, nanoseconds, d.Name, id)
			iothreadPollGrow.send(s.ch, t.PollGrow, 1, d.Name, id)
			iothreadPollShrink.send(s.ch, t.PollShrink, 1, d.Name, id)
		}
	})
}
