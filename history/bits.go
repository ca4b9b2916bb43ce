package history

import (
	"errors"
	"math/bits"
)

// A column is one field of one VM's samples, stored as a bit stream: each
// value as its difference from the one before (a gauge) or as the change
// of that difference (a counter, whose steady growth then costs one bit).
// The difference is zigzag-coded and written with the shortest of a few
// prefix classes; a value that is absent, or the first after one, is
// written by an escape.

// class is a prefix of `ones` one bits then a zero (none after the last),
// followed by a value of width bits.
type class struct {
	ones, width int
}

// classes, by width; the escape is seven one bits.
var classes = [...]class{{0, 0}, {1, 4}, {2, 8}, {3, 14}, {4, 22}, {5, 32}, {6, 64}}

const escapeOnes = len(classes)

var errCorrupt = errors.New("history: corrupt column data")

type bitWriter struct {
	b    []byte
	free uint // unused low bits of the last byte
}

// write appends the n low bits of v, most significant first.
func (w *bitWriter) write(v uint64, n uint) {
	for n > 0 {
		if w.free == 0 {
			w.b = append(w.b, 0)
			w.free = 8
		}
		k := min(n, w.free)
		chunk := byte(v>>(n-k)) & byte(1<<k-1)
		w.b[len(w.b)-1] |= chunk << (w.free - k)
		w.free -= k
		n -= k
	}
}

func (w *bitWriter) ones(n int) {
	w.write(1<<n-1, uint(n))
}

type bitReader struct {
	b   []byte
	pos uint // in bits
}

func (r *bitReader) read(n uint) (uint64, error) {
	if r.pos+n > uint(len(r.b))*8 {
		return 0, errCorrupt
	}
	var v uint64
	for n > 0 {
		i, used := r.pos/8, r.pos%8
		k := min(n, 8-used)
		bitsHere := (r.b[i] >> (8 - used - k)) & byte(1<<k-1)
		v = v<<k | uint64(bitsHere)
		r.pos += k
		n -= k
	}
	return v, nil
}

// align skips to the next byte: each column starts on one.
func (r *bitReader) align() { r.pos = (r.pos + 7) &^ 7 }

// column is the state that encoding or decoding one column carries from
// value to value.
type column struct {
	prev, delta uint64 // the last value, and its difference from the one before
	has         bool   // whether prev is a value (not absent)
}

func zigzag(x uint64) uint64   { return x<<1 ^ uint64(int64(x)>>63) }
func unzigzag(u uint64) uint64 { return u>>1 ^ -(u & 1) }

// put encodes v (absent or not) after the column's previous values.
func (c *column) put(w *bitWriter, v uint64, counter bool) {
	if v == absent || !c.has {
		w.ones(escapeOnes)
		if v == absent {
			w.write(0, 1)
			c.has = false
			return
		}
		w.write(1, 1)
		n := uint(bits.Len64(v))
		w.write(uint64(n), 7)
		w.write(v, n)
		c.prev, c.delta, c.has = v, 0, true
		return
	}
	d := v - c.prev
	x := d
	if counter {
		x = d - c.delta
	}
	u := zigzag(x)
	for _, k := range classes {
		if k.width == 64 || u < 1<<k.width {
			w.ones(k.ones)
			w.write(0, 1)
			w.write(u, uint(k.width))
			break
		}
	}
	c.prev, c.delta = v, d
}

// get decodes the column's next value.
func (c *column) get(r *bitReader, counter bool) (uint64, error) {
	ones := 0
	for ones < escapeOnes {
		b, err := r.read(1)
		if err != nil {
			return 0, err
		}
		if b == 0 {
			break
		}
		ones++
	}
	if ones == escapeOnes {
		present, err := r.read(1)
		if err != nil {
			return 0, err
		}
		if present == 0 {
			c.has = false
			return absent, nil
		}
		n, err := r.read(7)
		if err != nil || n > 64 {
			return 0, errCorrupt
		}
		v, err := r.read(uint(n))
		if err != nil || v == absent {
			return 0, errCorrupt
		}
		c.prev, c.delta, c.has = v, 0, true
		return v, nil
	}
	if !c.has {
		return 0, errCorrupt
	}
	u, err := r.read(uint(classes[ones].width))
	if err != nil {
		return 0, err
	}
	x := unzigzag(u)
	d := x
	if counter {
		d = c.delta + x
	}
	v := c.prev + d
	if v == absent {
		return 0, errCorrupt
	}
	c.prev, c.delta = v, d
	return v, nil
}
