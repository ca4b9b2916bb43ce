package history

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/internal/binio"
)

// Save writes the history: the reading times, then each VM's chunks as
// they are held in memory (the head sealed), so that Load after a
// restart serves them again.
func (h *History) Save(w io.Writer) error {
	h.mu.RLock()
	ticks, base, last := h.ticks, h.tickBase, h.last
	ids := make([]libvirt.UUID, 0, len(h.series))
	chunks := make([][]*chunk, 0, len(h.series))
	for id, s := range h.series {
		ids = append(ids, id)
		chunks = append(chunks, s.chunks())
	}
	h.mu.RUnlock()

	bw := bufio.NewWriter(w)
	e := encoder{w: bw}
	e.varint(last)
	e.uvarint(base)
	e.uvarint(uint64(len(ticks)))
	prev := int64(0)
	for _, t := range ticks {
		e.varint(t - prev)
		prev = t
	}
	e.uvarint(uint64(len(ids)))
	for i, id := range ids {
		e.bytes(id[:])
		e.uvarint(uint64(len(chunks[i])))
		for _, c := range chunks[i] {
			e.layout(c.layout)
			e.uvarint(uint64(c.n))
			e.uvarint(c.first)
			e.uvarint(c.last)
			e.bytes(c.data)
		}
	}
	if e.err != nil {
		return e.err
	}
	return bw.Flush()
}

type encoder struct {
	w   *bufio.Writer
	buf [binary.MaxVarintLen64]byte
	err error
}

func (e *encoder) uvarint(v uint64) {
	if e.err == nil {
		_, e.err = e.w.Write(binary.AppendUvarint(e.buf[:0], v))
	}
}

func (e *encoder) varint(v int64) {
	if e.err == nil {
		_, e.err = e.w.Write(binary.AppendVarint(e.buf[:0], v))
	}
}

func (e *encoder) bytes(b []byte) {
	e.uvarint(uint64(len(b)))
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

func (e *encoder) layout(l *layout) {
	e.bytes([]byte(l.name))
	e.uvarint(uint64(l.vcpus))
	for _, names := range [][]string{l.nets, l.blocks} {
		e.uvarint(uint64(len(names)))
		for _, n := range names {
			e.bytes([]byte(n))
		}
	}
}

// Bounds on what Load accepts, far above what a real history holds, so
// that a damaged file cannot make it allocate without limit.
const (
	maxName    = 4096
	maxDevices = 4096
	maxChunk   = 4 << 20
)

var errLoaded = errors.New("history: Load needs an empty history")

// Load reads what Save wrote, into a history that has recorded nothing
// yet, dropping what is older than the retention. A damaged or foreign
// history is an error, and leaves the history empty.
func (h *History) Load(r io.Reader) error {
	d := decoder{binio.NewReader(bufio.NewReader(r))}
	last := d.Varint()
	base := d.Uvarint()
	nTicks := d.count(1 << 32)
	var ticks []int64
	prev := int64(0)
	for range nTicks {
		prev += d.Varint()
		if len(ticks) > 0 && prev <= ticks[len(ticks)-1] || d.Err() != nil {
			return d.fail("reading times out of order")
		}
		ticks = append(ticks, prev)
	}
	if d.Err() != nil || (nTicks > 0 && ticks[nTicks-1] != last) {
		return d.fail("the newest reading time does not match")
	}
	loaded := map[libvirt.UUID]*series{}
	for range d.count(1 << 24) {
		var id libvirt.UUID
		if b := d.bytes(len(id)); len(b) == len(id) {
			copy(id[:], b)
		}
		s := &series{}
		for range d.count(1 << 24) {
			c := &chunk{layout: d.layout(s), n: d.count(1 << 24), first: d.Uvarint(), last: d.Uvarint(), data: d.bytes(maxChunk)}
			if d.Err() != nil {
				return d.fail("")
			}
			if err := c.check(base, uint64(nTicks)); err != nil {
				return err
			}
			s.sealed = append(s.sealed, c)
		}
		if len(s.sealed) > 0 {
			loaded[id] = s
		}
	}
	if d.Err() != nil {
		return d.fail("")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last != 0 {
		return errLoaded
	}
	if nTicks == 0 {
		return nil // an empty history
	}
	h.series, h.ticks, h.tickBase, h.last = loaded, ticks, base, last
	h.dropOld(time.Now().UnixNano())
	return nil
}

// check decodes the chunk, as a reader would, and checks its tick numbers.
func (c *chunk) check(base, nTicks uint64) error {
	if c.n == 0 || c.n > chunkSamples || c.first < base || c.last >= base+nTicks || c.first > c.last {
		return fmt.Errorf("history: a chunk's readings are out of range")
	}
	if c.n*(c.layout.size()+1) > len(c.data)*8 { // every value takes a bit at least
		return fmt.Errorf("history: a chunk is shorter than its samples")
	}
	ticks, _, err := c.decode(nil, nil)
	if err != nil {
		return err
	}
	for i, t := range ticks {
		if (i == 0 && t != c.first) || (i > 0 && t <= ticks[i-1]) || (i == c.n-1 && t != c.last) {
			return fmt.Errorf("history: a chunk's readings are out of order")
		}
	}
	return nil
}

// decoder reads what Save wrote, keeping its first error.
type decoder struct {
	*binio.Reader
}

func (d decoder) fail(what string) error {
	if err := d.Err(); err != nil {
		return fmt.Errorf("history: damaged: %w", err)
	}
	return errors.New("history: damaged: " + what)
}

// count reads a count, at most limit.
func (d decoder) count(limit uint64) int {
	v := d.Uvarint()
	if v > limit {
		d.Fail(fmt.Errorf("a count of %d", v))
	}
	if d.Err() != nil {
		return 0
	}
	return int(v)
}

func (d decoder) bytes(limit int) []byte {
	n := d.count(uint64(limit))
	if d.Err() != nil {
		return nil
	}
	b := make([]byte, n)
	d.Read(b)
	return b
}

// layout reads a layout, sharing the series' last one when equal.
func (d decoder) layout(s *series) *layout {
	l := &layout{name: string(d.bytes(maxName)), vcpus: d.count(maxDevices)}
	for _, names := range []*[]string{&l.nets, &l.blocks} {
		*names = make([]string, d.count(maxDevices))
		for i := range *names {
			(*names)[i] = string(d.bytes(maxName))
		}
	}
	if n := len(s.sealed); n > 0 && s.sealed[n-1].layout.equal(l) {
		return s.sealed[n-1].layout
	}
	return l
}
