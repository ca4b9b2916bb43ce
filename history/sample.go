package history

import (
	"math"
	"time"

	"github.com/vadvisor/vadvisor/domstats"
)

// absent stands for a value libvirt did not return. libvirt itself reports
// an unknown unsigned statistic as all ones, so no real value is lost.
const absent = math.MaxUint64

// The fields a sample keeps, in the order of the compact encoding: the
// domain's own, then per vCPU, interface and disk. domstats' field tables
// say which: those with a sample name.
var (
	domainAt = domstats.Sampled(domstats.StateFields, domstats.CPUFields, domstats.BalloonFields)
	vcpuAt   = domstats.Sampled(domstats.VCPUFields)
	netAt    = domstats.Sampled(domstats.NetFields)
	blockAt  = domstats.Sampled(domstats.BlockFields)
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
	return domainAt.Len() + l.vcpus*vcpuAt.Len() + len(l.nets)*netAt.Len() + len(l.blocks)*blockAt.Len()
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
	v = put(v, d, domainAt)
	for i := range d.VCPUs {
		v = put(v, &d.VCPUs[i], vcpuAt)
	}
	for i := range d.Nets {
		v = put(v, &d.Nets[i], netAt)
	}
	for i := range d.Blocks {
		v = put(v, &d.Blocks[i], blockAt)
	}
}

// put encodes t's fields at into the start of dst and returns the rest.
func put[T any](dst []uint64, t *T, at domstats.FieldSet[T]) []uint64 {
	n := at.Len()
	for i := range dst[:n] {
		if x := at.At(t, i); x.OK {
			dst[i] = x.V
		} else {
			dst[i] = absent
		}
	}
	return dst[n:]
}

// take decodes the start of src into t's fields at and returns the rest.
func take[T any](src []uint64, t *T, at domstats.FieldSet[T]) []uint64 {
	n := at.Len()
	for i, v := range src[:n] {
		*at.At(t, i) = get(v)
	}
	return src[n:]
}

func get(v uint64) domstats.Value {
	if v == absent {
		return domstats.Value{}
	}
	return domstats.Value{V: v, OK: true}
}

// Decode fills d with the sample's statistics (its name and the fields
// kept in the history), reusing d's slices; the other fields are left
// absent. The UUID is not part of a sample and is left as it was.
func (s *Sample) Decode(d *domstats.Domain) {
	l := s.layout
	*d = domstats.Domain{
		Name: l.name, UUID: d.UUID,
		VCPUs:  resize(d.VCPUs, l.vcpus),
		Nets:   resize(d.Nets, len(l.nets)),
		Blocks: resize(d.Blocks, len(l.blocks)),
	}
	v := take(s.vals, d, domainAt)
	for i := range d.VCPUs {
		d.VCPUs[i] = domstats.VCPU{}
		v = take(v, &d.VCPUs[i], vcpuAt)
	}
	for i := range d.Nets {
		d.Nets[i] = domstats.Net{Name: l.nets[i]}
		v = take(v, &d.Nets[i], netAt)
	}
	for i := range d.Blocks {
		d.Blocks[i] = domstats.Block{Name: l.blocks[i]}
		v = take(v, &d.Blocks[i], blockAt)
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
