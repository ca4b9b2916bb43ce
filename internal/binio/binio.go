// Package binio reads the varint streams in which vAdvisor saves its
// state (the history and the event store): a reader that keeps its first
// error, so that a decoder checks once, at the end.
package binio

import (
	"bufio"
	"encoding/binary"
	"io"
)

// Reader reads varints and bytes until the first error; after it, every
// read returns zero.
type Reader struct {
	r   *bufio.Reader
	err error
}

// NewReader reads r.
func NewReader(r *bufio.Reader) *Reader { return &Reader{r: r} }

// Err is the first error met, or nil.
func (d *Reader) Err() error { return d.err }

// Fail records err unless an error came before.
func (d *Reader) Fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// Uvarint reads an unsigned varint.
func (d *Reader) Uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(d.r)
	d.err = err
	return v
}

// Varint reads a signed varint.
func (d *Reader) Varint() int64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadVarint(d.r)
	d.err = err
	return v
}

// Read fills b.
func (d *Reader) Read(b []byte) {
	if d.err == nil {
		_, d.err = io.ReadFull(d.r, b)
	}
}

// Discard skips n bytes.
func (d *Reader) Discard(n uint64) {
	if d.err == nil {
		_, d.err = d.r.Discard(int(n))
	}
}

// AtEnd reports whether everything was read: a decoder that expects no
// more data calls it last.
func (d *Reader) AtEnd() bool {
	if d.err != nil {
		return false
	}
	_, err := d.r.ReadByte()
	return err == io.EOF
}
