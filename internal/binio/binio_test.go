package binio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// A Reader reads what binary.Append* wrote, keeps its first error, and
// tells the end of the data from data left over.
func TestReader(t *testing.T) {
	b := binary.AppendUvarint(nil, 300)
	b = binary.AppendVarint(b, -7)
	b = append(b, "abc"...)
	d := NewReader(bufio.NewReader(bytes.NewReader(b)))
	buf := make([]byte, 3)
	if u, v := d.Uvarint(), d.Varint(); u != 300 || v != -7 {
		t.Fatalf("read %d %d, want 300 -7", u, v)
	}
	d.Read(buf)
	if string(buf) != "abc" || !d.AtEnd() || d.Err() != nil {
		t.Fatalf("read %q, at end %v, err %v", buf, d.AtEnd(), d.Err())
	}

	d = NewReader(bufio.NewReader(bytes.NewReader(b[:1])))
	d.Uvarint()
	first := d.Err()
	d.Fail(errors.New("later"))
	if !errors.Is(first, io.ErrUnexpectedEOF) || d.Err() != first || d.Varint() != 0 || d.AtEnd() {
		t.Fatalf("after a cut: first error %v, now %v", first, d.Err())
	}

	d = NewReader(bufio.NewReader(bytes.NewReader(b)))
	d.Discard(2)
	if d.Varint() != -7 || d.AtEnd() {
		t.Fatal("Discard skipped the wrong bytes, or AtEnd missed the data left")
	}
}
