package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

func (s *scrapeResult) write(w *report) {
	w.Heading(2, "Scrapes")
	w.Para("%d scrapes per subject, sequential; on the real guests in %d rounds that take turns, vAdvisor then the Debian exporter "+
		"(each round restarts the exporter and warms it up; the median and p99 are the medians of the rounds').", *scrapes, *scrapeRounds)
	var rows [][]string
	for _, r := range s.rows {
		rows = append(rows, r.scrapeRow())
	}
	w.Table([]string{"subject", "median", "p99", "vs floor (median)", "bytes", "exporter CPU/scrape", "libvirtd CPU/scrape", "RSS"}, rows)
	s.api.write(w)
	for _, r := range s.rows {
		if len(r.each) > 0 {
			var each []string
			for _, d := range r.each {
				each = append(each, ms(d))
			}
			w.Para("Rounds' medians, %s: %s.", r.name, strings.Join(each, ", "))
		}
	}
	w.List("Targets:", s.targets())
}

// scrapeRow is a subject's row of the scrapes' table.
func (r *result) scrapeRow() []string {
	if r.skipped != "" {
		return []string{r.name, "skipped: " + r.skipped}
	}
	ratio := "1.00x (floor)" // a number, as the column's other cells
	if r.floor != nil {
		ratio = fmt.Sprintf("%.2fx", ratioOf(r.median, r.floor.median))
	}
	return []string{r.name, ms(r.median), ms(r.p99), ratio,
		dash(r.bytes, strconv.Itoa), cpu(r.cpuPerScrape, r.bytes > 0),
		ms(r.libvirtdCPU), dash(r.rssKiB, func(k int) string { return fmt.Sprintf("%.1f MiB", float64(k)/1024) })}
}

func (a *apiResult) write(w *report) {
	if a.skipped != "" {
		w.Para("History and stats API: skipped (%s).", a.skipped)
		return
	}
	w.Para("History sampler (qemu:///system, default 1 s interval, full 60 s history): %s CPU per second while idle.", ms(a.idleCPUPerSecond))
	var rows [][]string
	for _, x := range []struct {
		name string
		r    *result
	}{{"GET /api/v1.0/stats (history)", a.history}, {"GET /api/v1.0/stats?live=true", a.live}} {
		if x.r.skipped != "" {
			rows = append(rows, []string{x.name, "failed: " + x.r.skipped})
			continue
		}
		rows = append(rows, []string{x.name, ms(x.r.median), ms(x.r.p99), strconv.Itoa(x.r.bytes), ms(x.r.cpuPerScrape)})
	}
	w.Table([]string{"request", "median", "p99", "bytes", "exporter CPU/request"}, rows)
}

// targets judge vadvisor's scrapes against the floor, and on the real
// guests against the Debian exporter.
func (s *scrapeResult) targets() []string {
	var out []string
	if t := s.vadvTest; t.skipped == "" && t.floor.skipped == "" {
		r := ratioOf(t.median, t.floor.median)
		out = append(out,
			target(r <= 3, "test domains: scrape within 3x of raw list+bulk (%.2fx)", r),
			target(t.median < 50*time.Millisecond, "test domains: scrape under 50 ms (median %s, p99 %s)", ms(t.median), ms(t.p99)))
	}
	if v := s.vadvReal; v.skipped == "" && v.floor.skipped == "" {
		r := ratioOf(v.median, v.floor.median)
		out = append(out, target(r <= 1.3, "real guests: scrape within 1.3x of the raw bulk call (%.2fx)", r))
		if p := v.peerComparison; p != nil && p.skipped == "" {
			out = append(out, target(v.median < p.median, "real guests: faster than %s (%s vs %s, %.2fx)",
				debianPeer, ms(v.median), ms(p.median), ratioOf(p.median, v.median)))
		}
	}
	return out
}
