package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/vadvisor/vadvisor/libvirtconn"
)

func (r *jobResult) print() {
	if !heading("Job collector fan-out", r.failed) {
		return
	}
	fmt.Printf("`--collector.job` on a %d-domain test-driver node (%d active): one DomainGetJobStats per active domain, "+
		"on at most %d goroutines (libvirtconn.Workers). vadvisor reaches libvirtd %s. "+
		"%d sequential scrapes per run after 3 warm-up scrapes, each announcing Prometheus' default 10 s scrape timeout; "+
		"a scrape is complete when `vadvisor_scrape_collector_success{collector=\"job\"}` is 1 and it has one `libvirt_domain_job_info_type` series per active domain. "+
		"The same %d calls made by the benchmark itself on %d goroutines over one connection (the floor): median %s. "+
		"In the runs with a delay, the proxy answers each job call that much later, as a busy libvirtd would, so that the fan-out lasts longer than one call may. "+
		"Opening the node took libvirtd %s (the benchmark's own connection): vadvisor gives its dial no longer than --libvirt.timeout, so a smaller timeout never connects. "+
		"Load average %s before, %s after.\n\n",
		r.total, r.active, libvirtconn.Workers, r.via, *jobScrapes, r.active, libvirtconn.Workers, ms(r.raw), ms(r.open), r.loadStart, r.loadEnd)
	if r.beforeErr != "" {
		fmt.Printf("The build of %s failed: %s.\n\n", r.beforeRev, r.beforeErr)
	} else if r.beforeRev != "" {
		fmt.Printf("For contrast, %s is commit %s.\n\n", r.beforeRev, r.beforeNote)
	}
	fmt.Println("| vadvisor | --libvirt.timeout | job collector | job call delay | scrapes complete | job series per scrape | scrape median | scrape p99 | job collector median | job errors logged |")
	fmt.Println("|---|---|---|---:|---:|---:|---:|---:|---:|---|")
	for _, run := range r.runs {
		coll, delay := "off", "-"
		if run.jobOn {
			coll = "on"
		}
		if run.delay > 0 {
			delay = run.delay.String()
		}
		if run.failed != "" {
			fmt.Printf("| %s | %s | %s | %s | failed: %s | | | | | |\n", run.label, run.timeout, coll, delay, strings.ReplaceAll(run.failed, "|", "/"))
			continue
		}
		median, p99 := percentiles(run.times)
		if !run.jobOn {
			fmt.Printf("| %s | %s | off | - | - | - | %s | %s | - | - |\n", run.label, run.timeout, ms(median), ms(p99))
			continue
		}
		series := fmt.Sprintf("%d", run.minSeries)
		if run.maxSeries != run.minSeries {
			series = fmt.Sprintf("%d to %d", run.minSeries, run.maxSeries)
		}
		jobMedian := "-"
		if len(run.jobTimes) > 0 {
			m, _ := percentiles(run.jobTimes)
			jobMedian = ms(m)
		}
		errs := "none"
		if run.logErrs > 0 {
			errs = fmt.Sprintf("%d (%d timeouts); last: %s", run.logErrs, run.timeoutErrs, strings.ReplaceAll(run.lastErr, "|", "/"))
		}
		fmt.Printf("| %s | %s | on | %s | %d/%d | %s | %s | %s | %s | %s |\n", run.label, run.timeout, delay, run.complete, run.scrapes,
			series, ms(median), ms(p99), jobMedian, errs)
	}
	fmt.Println()
	fmt.Println("Targets:")
	for _, run := range r.runs {
		if !run.jobOn || run.label != "this tree" {
			continue
		}
		mark := "MET"
		if run.failed != "" || run.complete != run.scrapes || run.scrapes == 0 {
			mark = "MISSED"
		}
		median := time.Duration(0)
		if len(run.times) > 0 {
			median, _ = percentiles(run.times)
		}
		delay := ""
		if run.delay > 0 {
			delay = fmt.Sprintf(", job calls answered %s late", run.delay)
		}
		if run.failed != "" {
			fmt.Printf("- %s: job collector on %d test-driver domains, --libvirt.timeout %s%s: failed: %s\n", mark, r.total, run.timeout, delay, run.failed)
			continue
		}
		fmt.Printf("- %s: job collector on %d test-driver domains, --libvirt.timeout %s%s: %d/%d scrapes complete, %d job series each, median %s\n",
			mark, r.total, run.timeout, delay, run.complete, run.scrapes, max(run.minSeries, 0), ms(median))
	}
}
