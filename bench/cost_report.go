package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

func (r *costResult) write(w *report) {
	w.Heading(2, "Host cost of watching the guests")
	if r.skipped != "" {
		w.Para("Skipped: %s.", r.skipped)
		return
	}
	w.Heading(3, "What each source costs")
	w.Para("libvirtd's and the guests' QEMU CPU per call (for per-domain calls: per round over every running domain), "+
		"from calls made back to back for %s, less the idle rate measured for %s just before; with %d running guests.",
		*callWindow, *callIdle, r.guests)
	var calls [][]string
	for _, c := range r.calls {
		if c.skipped != "" {
			calls = append(calls, []string{c.name, "skipped: " + c.skipped})
			continue
		}
		calls = append(calls, []string{c.name, strconv.Itoa(c.calls), ms(c.latency), ms(c.libvirtd), ms(c.qemu),
			ms(c.libvirtd + c.qemu), ms((c.libvirtd + c.qemu) / time.Duration(max(r.guests, 1)))})
	}
	w.Table([]string{"call", "calls", "latency (median)", "libvirtd CPU per call", "QEMU CPU per call", "together", "per guest"}, calls)

	w.Heading(3, "Watching the guests once a second")
	if len(r.idle) == 0 {
		return
	}
	idle := totals(r.idle)
	w.Para("CPU of libvirtd, the guests' QEMU processes and the client (the exporter, or the process making the plain calls) "+
		"above the idle host, per second, with %d running guests; windows of %s, each against the mean of the idle windows "+
		"just before and after it; median of %d rounds (the totals' median, and each part's). "+
		"The idle host itself: %s of a core (median of %d idle windows; range %s to %s).",
		r.guests, *costWindow, *costRounds, pct(median(idle)), len(idle), pct(slices.Min(idle)), pct(slices.Max(idle)))
	var plain time.Duration
	for _, row := range r.rows {
		if strings.HasPrefix(row.name, "plain six-group") && len(row.perSec) > 0 {
			plain = median(totals(row.perSec))
		}
	}
	var rows [][]string
	for _, row := range r.rows {
		if row.skipped != "" {
			rows = append(rows, []string{row.name, "skipped: " + row.skipped})
		} else if len(row.perSec) > 0 {
			rows = append(rows, row.cells(r.guests, plain))
		}
	}
	w.Table([]string{"what runs", "host CPU", "per guest-second", "× plain call", "libvirtd", "QEMU", "client", "each round's host CPU"}, rows)
}

// cells are the row's figures: the medians over the rounds of the total
// and of each part, and each round's total.
func (row *costRow) cells(guests int, plain time.Duration) []string {
	m := median(totals(row.perSec))
	ratio := "-"
	if plain > 0 {
		ratio = fmt.Sprintf("%.2f", float64(m)/float64(plain))
	}
	perGuest := "-"
	if guests > 0 {
		perGuest = fmt.Sprintf("%.2f ms", float64(m)/float64(guests)/float64(time.Millisecond))
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
	return []string{row.name, pct(m), perGuest, ratio,
		part(func(u usage) time.Duration { return u.libvirtd }), part(func(u usage) time.Duration { return u.qemu }),
		part(func(u usage) time.Duration { return u.client }), strings.Join(each, ", ")}
}

func totals(us []usage) []time.Duration {
	var out []time.Duration
	for _, u := range us {
		out = append(out, u.total())
	}
	return out
}

// pct is cpu, a CPU time per second, as a percentage of one core.
func pct(cpu time.Duration) string {
	return fmt.Sprintf("%.1f %%", float64(cpu)/float64(time.Second)*100)
}
