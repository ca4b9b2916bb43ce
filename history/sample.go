package history

import (
	"math"
	"time"

	"github.com/vadvisor/vadvisor/domstats"
)

// absent stands for a value libvirt did not return. libvirt itself reports
// an unknown unsigned statistic as all ones, so no real value is lost.
const absent = math.MaxUint64

// Field counts of the compact encoding: the fixed part, then per vCPU,
// interface and disk.
const (
	fixedFields = 8 // state, cpu time/user/system, balloon current/maximum/rss/swap_in
	vcpuFields  = 2 // state, time
	netFields   = 8
	blockFields = 11
)

// layout is what consecutive samples of a VM share, stored once instead of
// per sample: its name and device set.
type layout struct {
	name   string
	vcpus  int
	nets   []string
	blocks []string
}

func newLayout(d *domstats.Domain) *layout {
	l := &layout{name: d.Name, vcpus: len(d.VCPUs), nets: make([]string, len(d.Nets)), blocks: make([]string, len(d.Blocks))}
	for i := range d.Nets {
		l.nets[i] = d.Nets[i].Name
	}
	for i := range d.Blocks {
		l.blocks[i] = d.Blocks[i].Name
	}
	return l
}

func (l *layout) matches(d *domstats.Domain) bool {
	if l.name != d.Name || l.vcpus != len(d.VCPUs) || len(l.nets) != len(d.Nets) || len(l.blocks) != len(d.Blocks) {
		return false
	}
	for i := range d.Nets {
		if l.nets[i] != d.Nets[i].Name {
			return false
		}
	}
	for i := range d.Blocks {
		if l.blocks[i] != d.Blocks[i].Name {
			return false
		}
	}
	return true
}

func (l *layout) size() int {
	return fixedFields + l.vcpus*vcpuFields + len(l.nets)*netFields + len(l.blocks)*blockFields
}

// Sample is one VM's statistics at one tick, held compactly: a timestamp,
// the shared layout and a flat run of numbers.
type Sample struct {
	time   int64 // Unix nanoseconds
	layout *layout
	vals   []uint64
}

// Time is when the reading the sample comes from was taken.
func (s *Sample) Time() time.Time { return time.Unix(0, s.time).UTC() }

// Name is the VM's name at the time of the sample.
func (s *Sample) Name() string { return s.layout.name }

// set encodes d into the sample, reusing its storage when it fits.
func (s *Sample) set(t int64, l *layout, d *domstats.Domain) {
	s.time, s.layout = t, l
	n := l.size()
	if cap(s.vals) < n {
		s.vals = make([]uint64, n)
	}
	v := s.vals[:n]
	s.vals = v
	b := d.Balloon
	put(v, d.State, d.CPUTime, d.CPUUser, d.CPUSystem, b.Current, b.Maximum, b.RSS, b.SwapIn)
	v = v[fixedFields:]
	for _, c := range d.VCPUs {
		put(v, c.State, c.Time)
		v = v[vcpuFields:]
	}
	for _, n := range d.Nets {
		put(v, n.RxBytes, n.RxPkts, n.RxErrs, n.RxDrop, n.TxBytes, n.TxPkts, n.TxErrs, n.TxDrop)
		v = v[netFields:]
	}
	for _, k := range d.Blocks {
		put(v, k.RdReqs, k.RdBytes, k.RdTimes, k.WrReqs, k.WrBytes, k.WrTimes, k.FlReqs, k.FlTimes, k.Allocation, k.Capacity, k.Physical)
		v = v[blockFields:]
	}
}

func put(dst []uint64, vals ...domstats.Value) {
	for i, x := range vals {
		if x.OK {
			dst[i] = x.V
		} else {
			dst[i] = absent
		}
	}
}

func get(v uint64) domstats.Value {
	if v == absent {
		return domstats.Value{}
	}
	return domstats.Value{V: v, OK: true}
}

// Decode fills d with the sample's statistics (name, state, cpu, balloon
// current/maximum/rss/swap_in, vCPU state and time, interfaces, disks),
// reusing d's slices; the other fields are left absent. The UUID is not
// part of a sample and is left as it was.
func (s *Sample) Decode(d *domstats.Domain) {
	l := s.layout
	v := s.vals
	*d = domstats.Domain{
		Name: l.name, UUID: d.UUID,
		State: get(v[0]), CPUTime: get(v[1]), CPUUser: get(v[2]), CPUSystem: get(v[3]),
		Balloon: domstats.Balloon{Current: get(v[4]), Maximum: get(v[5]), RSS: get(v[6]), SwapIn: get(v[7])},
		VCPUs:   resize(d.VCPUs, l.vcpus),
		Nets:    resize(d.Nets, len(l.nets)),
		Blocks:  resize(d.Blocks, len(l.blocks)),
	}
	v = v[fixedFields:]
	for i := range d.VCPUs {
		d.VCPUs[i] = domstats.VCPU{State: get(v[0]), Time: get(v[1])}
		v = v[vcpuFields:]
	}
	for i := range d.Nets {
		d.Nets[i] = domstats.Net{
			Name:    l.nets[i],
			RxBytes: get(v[0]), RxPkts: get(v[1]), RxErrs: get(v[2]), RxDrop: get(v[3]),
			TxBytes: get(v[4]), TxPkts: get(v[5]), TxErrs: get(v[6]), TxDrop: get(v[7]),
		}
		v = v[netFields:]
	}
	for i := range d.Blocks {
		d.Blocks[i] = domstats.Block{
			Name:   l.blocks[i],
			RdReqs: get(v[0]), RdBytes: get(v[1]), RdTimes: get(v[2]),
			WrReqs: get(v[3]), WrBytes: get(v[4]), WrTimes: get(v[5]),
			FlReqs: get(v[6]), FlTimes: get(v[7]),
			Allocation: get(v[8]), Capacity: get(v[9]), Physical: get(v[10]),
		}
		v = v[blockFields:]
	}
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// copyTo copies the sample into dst, reusing dst's storage.
func (s *Sample) copyTo(dst *Sample) {
	dst.time, dst.layout = s.time, s.layout
	dst.vals = append(dst.vals[:0], s.vals...)
}
