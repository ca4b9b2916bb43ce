// Package fakevm makes readings of VMs that look like real ones (two
// vCPUs, two disks, two interfaces, counters that move unevenly), so that
// tests and benchmarks can fill a history without libvirt.
package fakevm

import (
	"fmt"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/history"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
)

// Fleet is a set of running VMs whose counters move at each reading.
type Fleet struct {
	doms []domstats.Domain
	rnd  uint64
}

func val(x uint64) libvirtval.Value { return libvirtval.Value{V: x, OK: true} }

// New makes vms running VMs named vm0, vm1, ...
func New(vms int) *Fleet {
	f := &Fleet{doms: make([]domstats.Domain, vms), rnd: 0x9e3779b97f4a7c15}
	for i := range f.doms {
		d := domstats.Domain{Name: fmt.Sprintf("vm%d", i), ID: int32(i + 1), State: val(1),
			UUID:    libvirt.UUID{0x5f, 0x1c, byte(i >> 8), byte(i), 0xa4, 0x2e, 0x40, 0x11, 0x80, 0x5b},
			CPUTime: val(7.3e12), CPUUser: val(5.1e12), CPUSystem: val(1.8e12), VCPUCurrent: val(2), VCPUMaximum: val(2),
			Balloon: domstats.Balloon{Current: val(4 << 20), Maximum: val(4 << 20), RSS: val(3 << 20), SwapIn: val(0)}}
		for k := range 2 {
			d.VCPUs = append(d.VCPUs, domstats.VCPU{State: val(1), Time: val(3.4e12)})
			d.Nets = append(d.Nets, domstats.Net{Name: fmt.Sprintf("tap%d-%d", i, k), RxBytes: val(8e9), RxPkts: val(6e6),
				RxErrs: val(0), RxDrop: val(12), TxBytes: val(2e9), TxPkts: val(3e6), TxErrs: val(0), TxDrop: val(0)})
			d.Blocks = append(d.Blocks, domstats.Block{Name: fmt.Sprintf("vd%c", 'a'+k), RdReqs: val(4e5), RdBytes: val(9e9),
				RdTimes: val(2e11), WrReqs: val(7e5), WrBytes: val(1.2e10), WrTimes: val(9e11), FlReqs: val(5e4), FlTimes: val(3e10),
				Allocation: val(6 << 30), Capacity: val(20 << 30), Physical: val(6 << 30)})
		}
		f.doms[i] = d
	}
	return f
}

// UUIDs lists the VMs' uuids in the order of their names.
func (f *Fleet) UUIDs() []libvirt.UUID {
	ids := make([]libvirt.UUID, len(f.doms))
	for i := range f.doms {
		ids[i] = f.doms[i].UUID
	}
	return ids
}

// next is a small deterministic xorshift: runs compare alike.
func (f *Fleet) next(n uint64) uint64 {
	f.rnd ^= f.rnd << 13
	f.rnd ^= f.rnd >> 7
	f.rnd ^= f.rnd << 17
	return f.rnd % n
}

// add moves a counter on by up to n.
func (f *Fleet) add(v *libvirtval.Value, n uint64) { v.V += f.next(n) }

// Reading moves every VM's counters on by about a second's work and
// returns them as a reading taken at t. The reading shares the fleet's
// domains: record it before the next call.
func (f *Fleet) Reading(t time.Time) *domstats.Reading {
	for i := range f.doms {
		d := &f.doms[i]
		f.add(&d.CPUUser, 4e8)
		f.add(&d.CPUSystem, 1e8)
		d.CPUTime.V = d.CPUUser.V + d.CPUSystem.V + 4e11
		d.Balloon.RSS.V = 3<<20 + f.next(1<<16)
		for k := range d.VCPUs {
			f.add(&d.VCPUs[k].Time, 5e8)
		}
		for k := range d.Nets {
			n := &d.Nets[k]
			f.add(&n.RxPkts, 200)
			f.add(&n.RxBytes, 300e3)
			f.add(&n.TxPkts, 100)
			f.add(&n.TxBytes, 100e3)
		}
		for k := range d.Blocks {
			b := &d.Blocks[k]
			f.add(&b.RdReqs, 20)
			f.add(&b.RdBytes, 80e3)
			f.add(&b.RdTimes, 2e7)
			f.add(&b.WrReqs, 40)
			f.add(&b.WrBytes, 160e3)
			f.add(&b.WrTimes, 5e7)
			f.add(&b.FlReqs, 3)
			f.add(&b.FlTimes, 1e6)
		}
	}
	return &domstats.Reading{Time: t, Domains: f.doms}
}

// Record fills h with samples readings of vms VMs, one per h's interval,
// the last taken at last, and returns the VMs' uuids.
func Record(h *history.History, vms, samples int, last time.Time) []libvirt.UUID {
	f := New(vms)
	for s := samples - 1; s >= 0; s-- {
		h.Record(f.Reading(last.Add(-time.Duration(s) * h.Interval())))
	}
	return f.UUIDs()
}
