package history

import (
	"sync"
	"unsafe"

	"github.com/vadvisor/vadvisor/domstats"
)

// ring holds one VM's most recent samples. Its own lock keeps a reader
// copying one VM from holding up the sampler's work on the others.
type ring struct {
	mu     sync.Mutex
	slots  []Sample // fixed capacity; slot storage is reused as it wraps
	head   int      // index of the oldest sample
	n      int
	layout *layout // of the newest sample
}

var sampleSize = int(unsafe.Sizeof(Sample{}))

func newRing(capacity int) *ring {
	return &ring{slots: make([]Sample, capacity)}
}

func (r *ring) push(t int64, d *domstats.Domain) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.layout == nil || !r.layout.matches(d) {
		r.layout = newLayout(d)
	}
	i := (r.head + r.n) % len(r.slots)
	if r.n == len(r.slots) {
		r.head = (r.head + 1) % len(r.slots)
	} else {
		r.n++
	}
	r.slots[i].set(t, r.layout, d)
}

// trim drops the samples taken at or before cutoff and reports how many
// are left.
func (r *ring) trim(cutoff int64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.n > 0 && r.slots[r.head].time <= cutoff {
		r.head = (r.head + 1) % len(r.slots)
		r.n--
	}
	return r.n
}

// copyTo copies the samples, oldest first, into buf, reusing the storage
// of buf's elements.
func (r *ring) copyTo(buf []Sample) []Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	buf = resize(buf, r.n)
	for i := range buf {
		r.slots[(r.head+i)%len(r.slots)].copyTo(&buf[i])
	}
	return buf
}

// memory is the heap the ring holds, trimmed slots included, as their
// storage is kept for reuse.
func (r *ring) memory() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.slots) * sampleSize
	var last *layout
	for i := range r.slots {
		s := &r.slots[i]
		n += cap(s.vals) * 8
		if s.layout != nil && s.layout != last {
			n += layoutBytes(s.layout)
			last = s.layout
		}
	}
	return n
}

func layoutBytes(l *layout) int {
	n := int(unsafe.Sizeof(*l)) + len(l.name) + (len(l.nets)+len(l.blocks))*int(unsafe.Sizeof(""))
	for _, s := range l.nets {
		n += len(s)
	}
	for _, s := range l.blocks {
		n += len(s)
	}
	return n
}
