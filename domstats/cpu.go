package domstats

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/libvirtconn"
)

// errNoCPUCalls says that libvirt does not offer the per-domain CPU calls
// (a driver without them): samples then take the bulk groups.
var errNoCPUCalls = errors.New("libvirt does not offer virDomainGetCPUStats or virDomainGetVcpus")

// maxVCPUs bounds the vCPUs asked of virDomainGetVcpus at first; a
// domain with more is asked again for all of them.
const maxVCPUs = 64

// readCPU fills in, for every running domain of doms, the figures of the
// groups of each: the CPU times (cpu.time, cpu.user, cpu.system) with
// virDomainGetCPUStats, the vCPU states and times with
// virDomainGetVcpus. libvirt reads them from the
// host's cgroup and /proc, as for the bulk groups, without the domain's
// job, so a hung guest answers them at once. At most libvirtconn.Workers
// domains are read at a time. A domain whose calls fail (it stopped in
// between, say) keeps them absent and counts as incomplete; after a call
// that timed out, so do the domains not yet read.
func (r *Reader) readCPU(ctx context.Context, doms []Domain, each libvirt.DomainStatsTypes) error {
	var running []*Domain
	for i := range doms {
		if doms[i].Active() {
			running = append(running, &doms[i])
		}
	}
	var unsupported, stalled atomic.Bool
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
		d.Incomplete = true
		var le libvirt.Error
		switch {
		case errors.As(err, &le) && le.Code == uint32(libvirt.ErrNoSupport):
			unsupported.Store(true)
		case libvirtconn.Hung(err):
			// These calls need no job: one that timed out means libvirtd
			// itself is stalled (its workers all held by hung guests), so
			// the rest would time out too. This reading gives up on CPU
			// figures at once. (A call that found no free request slot
			// in time was never made: only its domain goes without.)
			stalled.Store(true)
		}
	})
	if unsupported.Load() {
		r.mu.Lock()
		r.bulkCPU = true
		r.mu.Unlock()
		return errNoCPUCalls
	}
	return nil
}

func (r *Reader) domainCPU(ctx context.Context, d *Domain, each libvirt.DomainStatsTypes) error {
	dom := libvirt.Domain{Name: d.Name, UUID: d.UUID, ID: d.ID}
	if each&libvirt.DomainStatsCPUTotal != 0 {
		params, err := libvirtconn.Do(ctx, r.conn, func(l *libvirt.Libvirt) ([]libvirt.TypedParam, error) {
			params, _, err := l.DomainGetCPUStats(dom, 3, -1, 1, 0) // -1, 1: the domain's total
			return params, err
		})
		if err != nil {
			return err
		}
		d.CPUTime, d.CPUUser, d.CPUSystem = Param(params, "cpu_time"), Param(params, "user_time"), Param(params, "system_time")
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
		c := VCPU{Time: Value{v.CPUTime, true}}
		if v.State >= 0 {
			c.State = Value{uint64(v.State), true}
		}
		d.VCPUs = append(d.VCPUs, c)
	}
	return nil
}

func (r *Reader) vcpus(ctx context.Context, dom libvirt.Domain, max int32) ([]libvirt.VcpuInfo, error) {
	return libvirtconn.Do(ctx, r.conn, func(l *libvirt.Libvirt) ([]libvirt.VcpuInfo, error) {
		info, _, err := l.DomainGetVcpus(dom, max, 0)
		return info, err
	})
}
