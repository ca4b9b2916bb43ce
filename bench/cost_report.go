package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

func (r *costResult) print() {
	fmt.Println("## Host cost of watching the guests")
	fmt.Println()
	if r.skipped != "" {
		fmt.Printf("Skipped: %s.\n", r.skipped)
		return
	}
	fmt.Printf("### What each source costs\n\nlibvirtd's and the guests' QEMU CPU per call (for per-domain calls: per round over every running domain), from calls made back to back for %s, less the idle rate measured for %s just before; with %d running guests.\n\n", *callWindow, *callIdle, r.guests)
	fmt.Println("| call | calls | latency (median) | libvirtd CPU per call | QEMU CPU per call | together | per guest |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, c := range r.calls {
		if c.skipped != "" {
			fmt.Printf("| %s | skipped: %s | | | | | |\n", c.name, c.skipped)
			continue
		}
		fmt.Printf("| %s | %d | %s | %s | %s | %s | %s |\n", c.name, c.calls, ms(c.latency), ms(c.libvirtd), ms(c.qemu), ms(c.libvirtd+c.qemu), ms((c.libvirtd+c.qemu)/time.Duration(max(r.guests, 1))))
	}
	fmt.Printf("\n### Watching the guests once a second\n\n")
	if len(r.idle) == 0 {
		return
	}
	totals := func(us []usage) []time.Duration {
		var out []time.Duration
		for _, u := range us {
			out = append(out, u.total())
		}
		return out
	}
	idle := totals(r.idle)
	fmt.Printf("CPU of libvirtd, the guests' QEMU processes and the client (the exporter, or the process making the plain calls) above the idle host, per second, with %d running guests; windows of %s, each against the mean of the idle windows just before and after it; median of %d rounds (the totals' median, and each part's). The idle host itself: %s of a core (median of %d idle windows; range %s to %s).\n\n",
		r.guests, *costWindow, *costRounds, pct(median(idle)), len(idle), pct(slices.Min(idle)), pct(slices.Max(idle)))
	var plain time.Duration
	for _, row := range r.rows {
		if strings.HasPrefix(row.name, "plain six-group") && len(row.perSec) > 0 {
			plain = median(totals(row.perSec))
		}
	}
	fmt.Println("| what runs | host CPU | per guest-second | × plain call | libvirtd | QEMU | client | each round's host CPU |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---|")
	for _, row := range r.rows {
		if row.skipped != "" {
			fmt.Printf("| %s | skipped: %s | | | | | | |\n", row.name, row.skipped)
			continue
		}
		if len(row.perSec) == 0 {
			continue
		}
		m := median(totals(row.perSec))
		ratio := "-"
		if plain > 0 {
			ratio = fmt.Sprintf("%.2f", float64(m)/float64(plain))
		}
		perGuest := "-"
		if r.guests > 0 {
			perGuest = fmt.Sprintf("%.2f ms", float64(m)/float64(r.guests)/float64(time.Millisecond))
		}
		part := func(f func(usage) time.Duration) string {
			var ds []time.Duration
			for _, u := range row.perSec {
				ds = append(ds, f(u))
			}
			return pct(median(ds))
		}
		var each []string
		for _, d := range totals(row.perSec) {
			each = append(each, pct(d))
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", row.name, pct(m), perGuest, ratio,
			part(func(u usage) time.Duration { return u.libvirtd }), part(func(u usage) time.Duration { return u.qemu }),
			part(func(u usage) time.Duration { return u.client }), strings.Join(each, ", "))
	}
}

// pct is cpu, a CPU time per second, as a percentage of one core.
func pct(cpu time.Duration) string {
	return fmt.Sprintf("%.1f %%", float64(cpu)/float64(time.Second)*100)
}
