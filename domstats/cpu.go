package domstats

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/internal/libvirtval"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

// errNoCPUCalls says that libvirt does not offer the per-domain CPU calls
// (a driver without them): readings then take the bulk groups.
var errNoCPUCalls = errors.New("libvirt does not offer virDomainGetCPUStats or virDomainGetVcpus")

// maxVCPUs bounds the vCPUs asked of virDomainGetVcpus at first; a
// domain with more is asked again for all of them.
const maxVCPUs = 64

// cpuGroups are the groups whose figures come cheaper from per-domain
// calls with QEMU's driver: every reading takes cpu-total so, a sample
// vcpu too. See docs/design.md, "The history sampler".
const cpuGroups = libvirt.DomainStatsCPUTotal | libvirt.DomainStatsVCPU

// readCheapest reads groups, those of each among cpuGroups by the
// per-domain calls, unless libvirt does not offer them: then, and with a
// driver other than QEMU's, all by the bulk call. It returns the groups
// read by the per-domain calls.
func (r *Reader) readCheapest(groups, each libvirt.DomainStatsTypes) (*Reading, libvirt.DomainStatsTypes, error) {
	r.mu.Lock()
	bulkCPU := r.bulkCPU
	r.mu.Unlock()
	if each &= groups & cpuGroups; each != 0 && !bulkCPU {
		rd, err := r.read(groups, each)
		if !errors.Is(err, errNoCPUCalls) {
			return rd, each, err
		}
	}
	rd, err := r.read(groups, 0)
	return rd, 0, err
}

// readCPU fills in, for every running domain of doms, the figures of the
// groups of each: the CPU times (cpu.time, cpu.user, cpu.system) with
// virDomainGetCPUStats, the vCPU states and times with
// virDomainGetVcpus. libvirt reads them from the
// host's cgroup and /proc, as for the bulk groups, without the domain's
// job, so a hung guest answers them at once. At most libvirtconn.Workers
// domains are read at a time. A domain whose calls fail (no free request
// slot, a host whose cgroups libvirt cannot read per domain, ...) is read
// by a bulk call of those groups (cpuFromBulk). After a call that timed
// out, the domains not yet read, and those that failed, keep the figures
// absent and count as incomplete.
func (r *Reader) readCPU(ctx context.Context, doms []Domain, each libvirt.DomainStatsTypes) error {
	var running []*Domain
	for i := range doms {
		if doms[i].Active() {
			running = append(running, &doms[i])
		}
	}
	var unsupported, stalled atomic.Bool
	var mu sync.Mutex
	var failed []*Domain
	libvirtconn.Each(len(running), func(i int) {
		d := running[i]
		if stalled.Load() {
			d.Incomplete = true
			return
		}
		err := r.domainCPU(ctx, d, each)
		if err == nil {
			return
		}
		var le libvirt.Error
		switch {
		case errors.As(err, &le) && le.Code == uint32(libvirt.ErrNoSupport):
			unsupported.Store(true)
		case libvirtconn.Classify(err) == libvirtconn.TimedOut:
			// These calls need no job: one that timed out means libvirtd
			// itself is stalled (its workers all held by hung guests), so
			// the rest would time out too. This reading gives up on CPU
			// figures at once. (A call that found no free request slot
			// in time was never made: only its domain goes without.)
			stalled.Store(true)
			d.Incomplete = true
			return
		}
		mu.Lock()
		failed = append(failed, d)
		mu.Unlock()
	})
	if unsupported.Load() {
		r.mu.Lock()
		r.bulkCPU = true
		r.mu.Unlock()
		return errNoCPUCalls
	}
	if stalled.Load() {
		for _, d := range failed {
			d.Incomplete = true
		}
		return nil
	}
	r.cpuFromBulk(ctx, failed, each)
	return nil
}

// cpuFromBulk reads the groups of each for the domains of failed in one
// bulk call with NOWAIT (without the job, libvirt still gives every
// figure of theirs that we read). A domain it does not give, or that
// stopped or started again since, counts as incomplete.
func (r *Reader) cpuFromBulk(ctx context.Context, failed []*Domain, each libvirt.DomainStatsTypes) {
	if len(failed) == 0 {
		return
	}
	list := make([]libvirt.Domain, len(failed))
	for i, d := range failed {
		list[i] = d.Ref()
	}
	recs, err := r.stats(ctx, each, list, libvirt.ConnectGetAllDomainsStatsNowait)
	got := make(map[libvirt.UUID]Domain, len(recs))
	for _, rec := range recs {
		got[rec.Dom.UUID] = Decode(rec)
	}
	for _, d := range failed {
		x, ok := got[d.UUID]
		if err != nil || !ok || x.ID != d.ID {
			d.Incomplete = true
			continue
		}
		d.add(&x, each)
	}
}

func (r *Reader) domainCPU(ctx context.Context, d *Domain, each libvirt.DomainStatsTypes) error {
	dom := d.Ref()
	if each&libvirt.DomainStatsCPUTotal != 0 {
		params, err := libvirtconn.Do(ctx, r.conn, func(l *libvirt.Libvirt) ([]libvirt.TypedParam, error) {
			params, _, err := l.DomainGetCPUStats(dom, 3, -1, 1, 0) // -1, 1: the domain's total
			return params, err
		})
		if err != nil {
			return err
		}
		d.CPUTime, d.CPUUser, d.CPUSystem = libvirtval.Param(params, "cpu_time"), libvirtval.Param(params, "user_time"), libvirtval.Param(params, "system_time")
	}
	if each&libvirt.DomainStatsVCPU == 0 {
		return nil
	}
	vcpus, err := r.vcpus(ctx, dom, maxVCPUs)
	if err == nil && len(vcpus) == maxVCPUs {
		vcpus, err = r.vcpus(ctx, dom, maxVCPUs*64)
	}
	if err != nil {
		return err
	}
	d.VCPUs = make([]VCPU, 0, len(vcpus))
	for _, v := range vcpus {
		if int(v.Number) != len(d.VCPUs) {
			continue // numbered as vcpu.N is: in order, from 0
		}
		c := VCPU{Time: libvirtval.Value{V: v.CPUTime, OK: true}}
		if v.State >= 0 {
			c.State = libvirtval.Value{V: uint64(v.State), OK: true}
		}
		d.VCPUs = append(d.VCPUs, c)
	}
	return nil
}

func (r *Reader) vcpus(ctx context.Context, dom libvirt.Domain, maxInfo int32) ([]libvirt.VcpuInfo, error) {
	return libvirtconn.Do(ctx, r.conn, func(l *libvirt.Libvirt) ([]libvirt.VcpuInfo, error) {
		info, _, err := l.DomainGetVcpus(dom, maxInfo, 0)
		return info, err
	})
}
