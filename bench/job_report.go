package main

import (
	"fmt"
	"time"

	"github.com/vadvisor/vadvisor/libvirtconn"
)

func (r *jobResult) write(w *report) {
	w.Heading(2, "Job collector fan-out")
	if r.failed != "" {
		w.Para("Failed: %s.", r.failed)
		return
	}
	w.Para("`--collector.job` on a %d-domain test-driver node (%d active): one DomainGetJobStats per active domain, "+
		"on at most %d goroutines (libvirtconn.Workers). vadvisor reaches libvirtd %s. "+
		"%d sequential scrapes per run after 3 warm-up scrapes, each announcing Prometheus' default 10 s scrape timeout; "+
		"a scrape is complete when `vadvisor_scrape_collector_success{collector=\"job\"}` is 1 and it has one `libvirt_domain_job_info_type` series per active domain. "+
		"The same %d calls made by the benchmark itself on %d goroutines over one connection (the floor): median %s. "+
		"In the runs with a delay, the proxy answers each job call that much later, as a busy libvirtd would, so that the fan-out lasts longer than one call may. "+
		"Opening the node took libvirtd %s (the benchmark's own connection): vadvisor gives its dial no longer than --libvirt.timeout, so a smaller timeout never connects. "+
		"Load average %s before, %s after.",
		r.total, r.active, libvirtconn.Workers, r.via, *jobScrapes, r.active, libvirtconn.Workers, ms(r.raw), ms(r.open), r.loadStart, r.loadEnd)
	if r.beforeErr != "" {
		w.Para("The build of %s failed: %s.", r.beforeRev, r.beforeErr)
	} else if r.beforeRev != "" {
		w.Para("For contrast, %s is commit %s.", r.beforeRev, r.beforeNote)
	}
	var rows [][]string
	var targets []string
	for _, run := range r.runs {
		rows = append(rows, run.row())
		if run.jobOn && run.label == "this tree" {
			targets = append(targets, run.target(r.total))
		}
	}
	w.Table([]string{"vadvisor", "--libvirt.timeout", "job collector", "job call delay", "scrapes complete",
		"job series per scrape", "scrape median", "scrape p99", "job collector median", "job errors logged"}, rows)
	w.List("Targets:", targets)
}

// row is the run's row of the job part's table.
func (run *jobRun) row() []string {
	coll, delay := "off", "-"
	if run.jobOn {
		coll = "on"
	}
	if run.delay > 0 {
		delay = run.delay.String()
	}
	if run.failed != "" {
		return []string{run.label, run.timeout, coll, delay, "failed: " + run.failed}
	}
	median, p99 := percentiles(run.times)
	if !run.jobOn {
		return []string{run.label, run.timeout, coll, delay, "-", "-", ms(median), ms(p99), "-", "-"}
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
		errs = fmt.Sprintf("%d (%d timeouts); last: %s", run.logErrs, run.timeoutErrs, run.lastErr)
	}
	return []string{run.label, run.timeout, coll, delay, fmt.Sprintf("%d/%d", run.complete, run.scrapes),
		series, ms(median), ms(p99), jobMedian, errs}
}

// target is the run's line of the job part's targets: every scrape complete.
func (run *jobRun) target(domains int) string {
	met := run.failed == "" && run.complete == run.scrapes && run.scrapes > 0
	delay := ""
	if run.delay > 0 {
		delay = fmt.Sprintf(", job calls answered %s late", run.delay)
	}
	if run.failed != "" {
		return target(met, "job collector on %d test-driver domains, --libvirt.timeout %s%s: failed: %s", domains, run.timeout, delay, run.failed)
	}
	median := time.Duration(0)
	if len(run.times) > 0 {
		median, _ = percentiles(run.times)
	}
	return target(met, "job collector on %d test-driver domains, --libvirt.timeout %s%s: %d/%d scrapes complete, %d job series each, median %s",
		domains, run.timeout, delay, run.complete, run.scrapes, max(run.minSeries, 0), ms(median))
}
