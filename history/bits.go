package history

import (
	"encoding/binary"
	"errors"
	"math/bits"
)

// A column is one field of one VM's samples, stored as a bit stream. Each
// value is predicted from the ones before, and the miss is written:
// zigzag-coded, in one bit when it is 0, in a short class when it is
// small, else with its bit length. Two predictors compete: the value
// before (its delta is the miss: good for gauges and bursty counters) and
// the value before plus the last change (good for counters that grow
// steadily, whose miss is then 0). Whichever missed by fewer bits of late
// predicts the next value; the decoder, seeing the same values, makes the
// same choice. A column whose last value and change are whole thousands
// (CPU times: cgroup v2 counts microseconds, libvirt gives nanoseconds)
// writes its misses in thousands; a miss that is not is written whole.
// An absent value, and the first value after one, are written by an
// escape; an absent value after an absent one is a miss of 0.
//
//	0                       miss 0 (or absent again)
//	10   xxxx               miss below 16
//	110  xxxxxxxx           miss below 256
//	1110 llllll x...        miss of bit length l+1
//	1111 0                  absent
//	1111 1 lllllll x...     a value of bit length l, written whole

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

type bitReader struct {
	b   []byte
	pos uint // in bits
}

func (r *bitReader) read(n uint) (uint64, error) {
	if r.pos+n > uint(len(r.b))*8 {
		return 0, errCorrupt
	}
	i, used := r.pos/8, r.pos%8
	if n <= 56 && i+8 <= uint(len(r.b)) { // one load of the next 8 bytes
		r.pos += n
		return binary.BigEndian.Uint64(r.b[i:]) << used >> (64 - n) & (1<<n - 1), nil
	}
	var v uint64
	for n > 0 {
		i, used = r.pos/8, r.pos%8
		k := min(n, 8-used)
		bitsHere := (r.b[i] >> (8 - used - k)) & byte(1<<k-1)
		v = v<<k | uint64(bitsHere)
		r.pos += k
		n -= k
	}
	return v, nil
}

// prefix reads a run of up to 4 one bits and the zero that ends a
// shorter one, and returns the run's length.
func (r *bitReader) prefix() (int, error) {
	avail := uint(len(r.b))*8 - r.pos
	if avail == 0 {
		return 0, errCorrupt
	}
	if r.b[r.pos/8]&(0x80>>(r.pos%8)) == 0 { // the common case: a miss of 0
		r.pos++
		return 0, nil
	}
	peek, err := r.read(min(4, avail))
	if err != nil {
		return 0, err
	}
	peek <<= 4 - min(4, avail) // as if 4 bits were there
	ones := bits.LeadingZeros8(^uint8(peek << 4))
	if ones >= 4 {
		return 4, nil
	}
	if uint(ones) >= avail {
		return 0, errCorrupt // the run ends with the data
	}
	r.pos -= min(4, avail) - uint(ones) - 1 // give back what follows the zero
	return ones, nil
}

// align skips to the next byte: each column starts on one.
func (r *bitReader) align() { r.pos = (r.pos + 7) &^ 7 }

// column is the state that encoding or decoding one column carries from
// value to value.
type column struct {
	prev, delta uint64 // the last value, and its difference from the one before
	has         bool   // whether prev is a value (not absent)
	// How many bits each predictor's misses took of late (a decaying
	// sum): that of the last value's, and that of the last change's.
	costLast, costTrend uint32
}

func zigzag(x uint64) uint64   { return x<<1 ^ uint64(int64(x)>>63) }
func unzigzag(u uint64) uint64 { return u>>1 ^ -(u & 1) }

// predict is the value the column expects next.
func (c *column) predict() uint64 {
	if c.costTrend < c.costLast {
		return c.prev + c.delta
	}
	return c.prev
}

// scale is what the column's misses are counted in.
func (c *column) scale() uint64 {
	if c.delta != 0 && c.delta%1000 == 0 && c.prev%1000 == 0 {
		return 1000
	}
	return 1
}

// seen moves the column on to v, a value (not absent), and scores both
// predictors on it.
func (c *column) seen(v uint64) {
	d := v - c.prev
	c.costLast += uint32(bits.Len64(zigzag(d))) - c.costLast>>2
	c.costTrend += uint32(bits.Len64(zigzag(d-c.delta))) - c.costTrend>>2
	c.prev, c.delta = v, d
}

// put encodes v (absent or not) after the column's previous values.
func (c *column) put(w *bitWriter, v uint64) {
	switch {
	case v == absent && !c.has:
		w.write(0, 1)
	case v == absent:
		w.write(0b11110, 5)
		c.has = false
	case !c.has || c.scale() > 1 && int64(v-c.predict())%1000 != 0:
		w.write(0b11111, 5)
		n := uint(bits.Len64(v))
		w.write(uint64(n), 7)
		w.write(v, n)
		*c = column{prev: v, has: true}
	default:
		u := zigzag(uint64(int64(v-c.predict()) / int64(c.scale())))
		switch {
		case u == 0:
			w.write(0, 1)
		case u < 16:
			w.write(0b10, 2)
			w.write(u, 4)
		case u < 256:
			w.write(0b110, 3)
			w.write(u, 8)
		default:
			n := uint(bits.Len64(u))
			w.write(0b1110, 4)
			w.write(uint64(n-1), 6)
			w.write(u, n)
		}
		c.seen(v)
	}
}

// get decodes the column's next value.
func (c *column) get(r *bitReader) (uint64, error) {
	ones, err := r.prefix()
	if err != nil {
		return 0, err
	}
	var u uint64
	switch ones {
	case 0:
		if !c.has {
			return absent, nil
		}
	case 1:
		u, err = r.read(4)
	case 2:
		u, err = r.read(8)
	case 3:
		var n uint64
		if n, err = r.read(6); err == nil {
			u, err = r.read(uint(n) + 1)
		}
	default:
		return c.escaped(r)
	}
	if err != nil || !c.has {
		return 0, errCorrupt
	}
	v := c.predict() + unzigzag(u)*c.scale()
	if v == absent {
		return 0, errCorrupt
	}
	c.seen(v)
	return v, nil
}

// escaped decodes what follows an escape: absent, or a whole value.
func (c *column) escaped(r *bitReader) (uint64, error) {
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
	*c = column{prev: v, has: true}
	return v, nil
}
