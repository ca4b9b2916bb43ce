package history

import (
	"unsafe"

	"github.com/vadvisor/vadvisor/domstats"
)

// chunkSamples is how many samples a chunk holds before it is sealed: two
// minutes at the default interval. Fewer bytes of overhead per sample
// against a coarser unit of expiry.
const chunkSamples = 120

// A chunk is a run of one VM's samples of one layout, sealed: its columns
// back to back, each starting on a byte. The first column is the samples'
// tick numbers (History.ticks holds their times), then one per field of
// the layout. A sealed chunk never changes, so readers share it.
type chunk struct {
	layout      *layout
	n           int
	first, last uint64 // tick numbers of the first and last sample
	data        []byte
}

// head is the chunk a VM's new samples go to: a bit stream per column
// until it is sealed.
type head struct {
	layout      *layout
	n           int
	first, last uint64
	ticks       column
	tickBits    bitWriter
	cols        []column
	bits        []bitWriter
	row         []uint64 // one sample's values, reused
}

func newHead(l *layout) *head {
	n := l.size()
	return &head{layout: l, cols: make([]column, n), bits: make([]bitWriter, n), row: make([]uint64, n)}
}

// push appends the domain's sample, taken at tick.
func (h *head) push(tick uint64, d *domstats.Domain) {
	if h.n == 0 {
		h.first = tick
	}
	h.last = tick
	h.n++
	h.ticks.put(&h.tickBits, tick)
	h.layout.encode(h.row, d)
	for i, v := range h.row {
		h.cols[i].put(&h.bits[i], v)
	}
}

// seal returns the head's samples as a chunk.
func (h *head) seal() *chunk {
	size := len(h.tickBits.b)
	for i := range h.bits {
		size += len(h.bits[i].b)
	}
	data := make([]byte, 0, size)
	data = append(data, h.tickBits.b...)
	for i := range h.bits {
		data = append(data, h.bits[i].b...)
	}
	return &chunk{layout: h.layout, n: h.n, first: h.first, last: h.last, data: data}
}

// memory is the heap the head holds.
func (h *head) memory() int {
	n := int(unsafe.Sizeof(*h)) + cap(h.tickBits.b) + cap(h.row)*8 +
		cap(h.cols)*int(unsafe.Sizeof(column{})) + cap(h.bits)*int(unsafe.Sizeof(bitWriter{}))
	for i := range h.bits {
		n += cap(h.bits[i].b)
	}
	return n
}

func (c *chunk) memory() int { return int(unsafe.Sizeof(*c)) + cap(c.data) }

// decode writes the chunk's tick numbers to ticks and its samples' values,
// row after row, to vals, reusing their storage.
func (c *chunk) decode(ticks, vals []uint64) ([]uint64, []uint64, error) {
	width := c.layout.size()
	ticks = resize(ticks, c.n)
	vals = resize(vals, c.n*width)
	r := bitReader{b: c.data}
	var col column
	var err error
	for i := range ticks {
		if ticks[i], err = col.get(&r); err != nil {
			return ticks, vals, err
		}
	}
	for f := range width {
		r.align()
		col = column{}
		for i := range c.n {
			if vals[i*width+f], err = col.get(&r); err != nil {
				return ticks, vals, err
			}
		}
	}
	return ticks, vals, nil
}
