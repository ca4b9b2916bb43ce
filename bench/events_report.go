package main

import (
	"fmt"
	"strings"
)

func (r *eventsResult) print() {
	if !heading("Event delivery", r.failed) {
		return
	}
	fmt.Printf("%d lifecycle events (%s defined and undefined alternately through the read-write socket, one event every %s) "+
		"to %d stream clients of `/api/v1.0/events?stream=true`, vadvisor at default flags on %s (%s domains), "+
		"while %s was hung (SIGSTOP to its QEMU) and, without pause, one client scraped `/metrics` "+
		"(%s; %d of them showed %s timed out) and one read `/api/v1.0/stats/?live=true` (%s). "+
		"Load average %s before, %s after.\n\n",
		r.generated, eventDomain, *eventSpacing, *eventClients, systemURI, orDash(r.vadvisor["libvirt_domains"]),
		r.hung, r.metrics.summary(), r.metrics.hits, r.hung, r.live.summary(), r.loadStart, r.loadEnd)
	fmt.Println("Latency of an event: the last of the stream clients reading its line, less the benchmark's own go-libvirt connection handing it over.")
	fmt.Println()
	fmt.Println("| events | delivered to every client | p50 | p99 | max | min |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|")
	if len(r.latencies) == 0 {
		fmt.Printf("| %d | 0 | - | - | - | - |\n", r.generated)
	} else {
		l := r.latencies
		p50, p99 := l[len(l)/2], l[min((len(l)*99+99)/100-1, len(l)-1)]
		fmt.Printf("| %d | %d | %s | %s | %s | %s |\n", r.generated, len(l), ms(p50), ms(p99), ms(l[len(l)-1]), ms(l[0]))
	}
	fmt.Println()
	if r.missing > 0 {
		fmt.Printf("%d events did not reach every client within %s (first: %s).\n\n", r.missing, eventWait, r.missingEx)
	}
	if len(r.slowest) > 0 {
		var s []string
		for _, e := range r.slowest {
			s = append(s, fmt.Sprintf("%s (event %d, %.1f s in)", ms(e.latency), e.index, e.at.Seconds()))
		}
		fmt.Printf("Slowest: %s.\n\n", strings.Join(s, ", "))
	}
	fmt.Printf("vadvisor afterwards: vadvisor_events_libvirt_subscriptions_total %s, vadvisor_events_stream_clients_dropped_total %s; "+
		"%d reconciled lines for the generated domains.\n\n",
		orDash(r.vadvisor["vadvisor_events_libvirt_subscriptions_total"]), orDash(r.vadvisor["vadvisor_events_stream_clients_dropped_total"]), r.reconciled)
	if len(r.latencies) > 0 {
		l := r.latencies
		p99 := l[min((len(l)*99+99)/100-1, len(l)-1)]
		mark := "MET"
		if p99 >= eventTarget || r.missing > 0 {
			mark = "MISSED"
		}
		fmt.Printf("Target:\n- %s: event delivery p99 under %s (%s, %d of %d delivered)\n", mark, ms(eventTarget), ms(p99), len(l), r.generated)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
