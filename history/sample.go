package history

import (
	"math"
	"slices"
	"unsafe"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
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

func (l *layout) equal(o *layout) bool {
	return l.name == o.name && l.vcpus == o.vcpus && slices.Equal(l.nets, o.nets) && slices.Equal(l.blocks, o.blocks)
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

// size is the number of fields of a sample.
func (l *layout) size() int {
	return domainAt.Len() + l.vcpus*vcpuAt.Len() + len(l.nets)*netAt.Len() + len(l.blocks)*blockAt.Len()
}

// memory is the heap the layout holds.
func (l *layout) memory() int {
	n := int(unsafe.Sizeof(*l)) + len(l.name) + (len(l.nets)+len(l.blocks))*int(unsafe.Sizeof(""))
	for _, s := range l.nets {
		n += len(s)
	}
	for _, s := range l.blocks {
		n += len(s)
	}
	return n
}

// encode writes d's fields kept in a sample to row (of l.size()).
func (l *layout) encode(row []uint64, d *domstats.Domain) {
	v := put(row, d, domainAt)
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

func get(v uint64) libvirtval.Value {
	if v == absent {
		return libvirtval.Value{}
	}
	return libvirtval.Value{V: v, OK: true}
}

// decode fills d with a sample's row (its name and the fields kept in the
// history), reusing d's slices; the other fields are left absent. The
// UUID is not part of a sample and is left as it was.
func (l *layout) decode(row []uint64, d *domstats.Domain) {
	*d = domstats.Domain{
		Name: l.name, UUID: d.UUID,
		VCPUs:  resize(d.VCPUs, l.vcpus),
		Nets:   resize(d.Nets, len(l.nets)),
		Blocks: resize(d.Blocks, len(l.blocks)),
	}
	v := take(row, d, domainAt)
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
