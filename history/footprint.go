package history

import (
	"unsafe"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
)

// Footprint is what a VM's sealed chunks take, for make bench: the
// columns' bytes and values by group of fields, and the chunks' own.
type Footprint struct {
	Samples int
	Bytes   map[string]int // by group: times, state, cpu, memory, vcpu, disk, network
	Values  map[string]int
	// Chunks is the chunks' headers; Open is the rest the VM holds: its
	// open chunk, layouts and series.
	Chunks, Open int
}

// Footprint measures the VM's sealed chunks by decoding them.
func (h *History) Footprint(id libvirt.UUID) Footprint {
	f := Footprint{Bytes: map[string]int{}, Values: map[string]int{}}
	h.mu.RLock()
	s := h.series[id]
	var sealed []*chunk
	if s != nil {
		sealed = append(sealed, s.sealed...)
		f.Open = s.memory()
	}
	h.mu.RUnlock()
	for _, c := range sealed {
		f.Samples += c.n
		f.Chunks += int(unsafe.Sizeof(*c)) + 8 // and its pointer
		f.Open -= c.memory()
		groups := c.layout.groups()
		r := bitReader{b: c.data}
		var col column
		for f2 := -1; f2 < len(groups); f2++ {
			start := r.pos
			col = column{}
			for range c.n {
				if _, err := col.get(&r); err != nil {
					return f
				}
			}
			r.align()
			g := "times"
			if f2 >= 0 {
				g = groups[f2]
			}
			f.Bytes[g] += int(r.pos-start) / 8
			f.Values[g] += c.n
		}
	}
	return f
}

// groups names the group of each of the layout's fields.
func (l *layout) groups() []string {
	g := make([]string, 0, l.size())
	for _, c := range []struct {
		name  string
		width int
		times int
	}{
		{"state", domstats.Sampled(domstats.StateFields).Len(), 1},
		{"cpu", domstats.Sampled(domstats.CPUFields).Len(), 1},
		{"memory", domstats.Sampled(domstats.BalloonFields).Len(), 1},
		{"vcpu", vcpuAt.Len(), l.vcpus}, {"network", netAt.Len(), len(l.nets)}, {"disk", blockAt.Len(), len(l.blocks)},
	} {
		for range c.width * c.times {
			g = append(g, c.name)
		}
	}
	return g
}
