package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

func (r *eventsResult) write(w *report) {
	w.Heading(2, "Event delivery")
	if r.failed != "" {
		w.Para("Failed: %s.", r.failed)
		return
	}
	w.Para("%d lifecycle events (%s defined and undefined alternately through the read-write socket, one event every %s) "+
		"to %d stream clients of `/api/v1.0/events?stream=true`, vadvisor at default flags on %s (%s domains), "+
		"while %s was hung (SIGSTOP to its QEMU) and, without pause, one client scraped `/metrics` "+
		"(%s; %d of them showed %s timed out) and one read `/api/v1.0/stats/?live=true` (%s). "+
		"Load average %s before, %s after.",
		r.generated, eventDomain, *eventSpacing, *eventClients, systemURI, orDash(r.vadvisor["libvirt_domains"]),
		r.hung, r.metrics.summary(), r.metrics.hits, r.hung, r.live.summary(), r.loadStart, r.loadEnd)
	w.Para("Latency of an event: the last of the stream clients reading its line, less the benchmark's own go-libvirt connection handing it over.")
	row := []string{strconv.Itoa(r.generated), "0", "-", "-", "-", "-"}
	l := r.latencies // sorted
	var p99 time.Duration
	if len(l) > 0 {
		var p50 time.Duration
		p50, p99 = percentiles(l)
		row = []string{strconv.Itoa(r.generated), strconv.Itoa(len(l)), ms(p50), ms(p99), ms(l[len(l)-1]), ms(l[0])}
	}
	w.Table([]string{"events", "delivered to every client", "p50", "p99", "max", "min"}, [][]string{row})
	if r.missing > 0 {
		w.Para("%d events did not reach every client within %s (first: %s).", r.missing, eventWait, r.missingEx)
	}
	if len(r.slowest) > 0 {
		var s []string
		for _, e := range r.slowest {
			s = append(s, fmt.Sprintf("%s (event %d, %.1f s in)", ms(e.latency), e.index, e.at.Seconds()))
		}
		w.Para("Slowest: %s.", strings.Join(s, ", "))
	}
	w.Para("vadvisor afterwards: vadvisor_events_libvirt_subscriptions_total %s, vadvisor_events_stream_clients_dropped_total %s; "+
		"%d reconciled lines for the generated domains.",
		orDash(r.vadvisor["vadvisor_events_libvirt_subscriptions_total"]), orDash(r.vadvisor["vadvisor_events_stream_clients_dropped_total"]), r.reconciled)
	if len(l) > 0 {
		w.List("Target:", []string{target(p99 < eventTarget && r.missing == 0, "event delivery p99 under %s (%s, %d of %d delivered)",
			ms(eventTarget), ms(p99), len(l), r.generated)})
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
