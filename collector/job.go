package collector

import (
	"sync"

	"github.com/digitalocean/go-libvirt"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

func init() {
	registerCollector(factory{
		name:  jobFamilies.collector,
		help:  "progress of domain jobs such as migrations and dumps (one call per running domain)",
		build: stateless(updateJob),
	})
}

// jobFamilies are this file's: libvirt_domain_job_info_*.
var jobFamilies = group{namespace: namespace, subsystem: "domain_job_info", collector: "job"}

var (
	jobType = jobFamilies.gauge("type",
		"Job type: 0 none, 1 bounded, 2 unbounded, 3 completed, 4 failed, 5 cancelled.", "domain").
		from(domstats.Count, "virDomainGetJobStats")
	jobTimeElapsed = jobFamilies.gauge("time_elapsed_seconds",
		"Time since the job started.", "domain").
		from(domstats.Milliseconds, libvirt.DomainJobTimeElapsed)
	jobTimeRemaining = jobFamilies.gauge("time_remaining_seconds",
		"Estimated time until the job ends.", "domain").
		from(domstats.Milliseconds, libvirt.DomainJobTimeRemaining)
	jobBytes = map[string]metric{}
)

// jobByteFields maps libvirt's job statistics to the inovex names: libvirt
// calls the file figures disk_*.
var jobByteFields = map[string]string{
	"data_total": "data_total", "data_processed": "data_processed", "data_remaining": "data_remaining",
	"memory_total": "memory_total", "memory_processed": "memory_processed", "memory_remaining": "memory_remaining",
	"disk_total": "file_total", "disk_processed": "file_processed", "disk_remaining": "file_remaining",
}

func init() {
	for field, name := range jobByteFields {
		jobBytes[field] = jobFamilies.gauge(name+"_bytes", "Job progress: "+name+" in bytes.", "domain").
			from(domstats.Count, field)
	}
}

func updateJob(s *scrape) error {
	var active []*domstats.Domain
	if err := activeDomains(s, func(d *domstats.Domain) { active = append(active, d) }); err != nil {
		return err
	}
	var mu sync.Mutex
	var firstErr error
	libvirtconn.Each(len(active), func(i int) {
		d := active[i]
		type job struct {
			typ    int32
			params []libvirt.TypedParam
		}
		j, err := libvirtconn.Do(s.ctx, s.conn, func(l *libvirt.Libvirt) (job, error) {
			typ, params, err := l.DomainGetJobStats(d.Ref(), 0)
			return job{typ, params}, err
		})
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
			return
		}
		sendJob(s.ch, d.Name, j.typ, j.params)
	})
	return firstErr
}

// sendJob exports one domain's job statistics; times come in milliseconds.
func sendJob(ch chan<- prometheus.Metric, domain string, typ int32, params []libvirt.TypedParam) {
	jobType.sendFloat(ch, float64(typ), domain)
	if typ == int32(libvirt.DomainJobNone) {
		return
	}
	jobTimeElapsed.send(ch, libvirtval.Param(params, libvirt.DomainJobTimeElapsed), domain)
	jobTimeRemaining.send(ch, libvirtval.Param(params, libvirt.DomainJobTimeRemaining), domain)
	for _, field := range sortedKeys(jobByteFields) {
		jobBytes[field].send(ch, libvirtval.Param(params, field), domain)
	}
}
