package events

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"unique"

	"github.com/vadvisor/vadvisor/internal/binio"
)

// Save and Load keep the store across a restart (internal/storage wraps
// them in a file). The data, in unsigned and signed varints:
//
//	1                               the format version
//	next ID                         so that IDs keep growing even if every event aged out
//	k, then k × (length, bytes)     the domain names and uuids, each once, in order of first use
//	m, then m × event               newest first:
//	    previous ID - ID            ≥ 1; the first's previous is the next ID
//	    time (Unix ns)              the first's signed; after it, previous time - time
//	    name index, uuid index      into the k strings
//	    type, detail                signed
//
// Newest first, so that the events a smaller --events.max-events keeps
// come first, and use the names that come first: Load then keeps at most
// 2 × max-events names, and its memory is bounded by the settings, not by
// the data.
const persistVersion = 1

// maxString bounds a name read back. libvirt keeps a definition in a file
// named after the domain, so a name is shorter than a file name's 255 bytes.
const maxString = 1024

// maxNextID bounds the next ID read back, far above a time in Unix
// milliseconds, so that IDs cannot wrap around after a load.
const maxNextID = 1 << 62

// Save writes the stored events. It copies them under the lock and
// writes without it: adding an event never waits for w.
func (s *Store) Save(w io.Writer) error {
	s.mu.Lock()
	s.evictAged()
	records := make([]record, s.n)
	for i := range records {
		records[i] = s.at(s.n - 1 - i)
	}
	next := s.nextID
	s.mu.Unlock()

	var buf []byte
	buf = binary.AppendUvarint(buf, persistVersion)
	buf = binary.AppendUvarint(buf, next)
	index := map[unique.Handle[string]]uint64{}
	var names []string
	for _, r := range records {
		for _, h := range []unique.Handle[string]{r.name, r.uuid} {
			if _, ok := index[h]; !ok {
				index[h] = uint64(len(names))
				names = append(names, h.Value())
			}
		}
	}
	buf = binary.AppendUvarint(buf, uint64(len(names)))
	for _, name := range names {
		buf = binary.AppendUvarint(buf, uint64(len(name)))
		buf = append(buf, name...)
	}
	buf = binary.AppendUvarint(buf, uint64(len(records)))
	bw := bufio.NewWriter(w)
	id := next
	for i, r := range records {
		buf = binary.AppendUvarint(buf, id-r.id)
		if i == 0 {
			buf = binary.AppendVarint(buf, r.time)
		} else {
			buf = binary.AppendUvarint(buf, uint64(records[i-1].time-r.time))
		}
		buf = binary.AppendUvarint(buf, index[r.name])
		buf = binary.AppendUvarint(buf, index[r.uuid])
		buf = binary.AppendVarint(buf, int64(r.typ))
		buf = binary.AppendVarint(buf, int64(r.detail))
		id = r.id
		if len(buf) > 4096 {
			if _, err := bw.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if _, err := bw.Write(buf); err != nil {
		return err
	}
	return bw.Flush()
}

// Load restores what Save wrote, but for the oldest events beyond the
// count limit; those older than the retention go as any do. Later events
// get greater IDs than every loaded one. It refuses a store that already
// holds events, and leaves the store as it was on any error. The counters
// of received and reconciled events are this process's: loading leaves
// them alone.
func (s *Store) Load(r io.Reader) error {
	records, next, err := s.decode(bufio.NewReader(r))
	if err != nil {
		return err
	}
	s.fanOut.Lock()
	defer s.fanOut.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n > 0 {
		return errors.New("the event store already holds events")
	}
	s.ring = make([]record, max(len(records), min(64, s.maxCount)))
	copy(s.ring, records)
	s.head, s.n = 0, len(records)
	s.nextID = max(s.nextID, next)
	if len(records) > 0 {
		s.last = max(s.last, records[len(records)-1].time)
	}
	return nil
}

// decode reads what Save wrote and returns the events kept, oldest first.
// It checks the whole data, also past what it keeps.
func (s *Store) decode(r *bufio.Reader) ([]record, uint64, error) {
	d := binio.NewReader(r)
	if version := d.Uvarint(); d.Err() == nil && version != persistVersion {
		return nil, 0, fmt.Errorf("events: format version %d, this vAdvisor reads %d", version, persistVersion)
	}
	next := d.Uvarint()
	if next > maxNextID {
		return nil, 0, fmt.Errorf("events: next ID %d is implausible", next)
	}
	var names []unique.Handle[string]
	k := d.Uvarint()
	for i := uint64(0); d.Err() == nil && i < k; i++ {
		n := d.Uvarint()
		if n > maxString {
			return nil, 0, fmt.Errorf("events: a name of %d bytes", n)
		}
		if i >= 2*uint64(s.maxCount) {
			d.Discard(n)
			continue
		}
		b := make([]byte, n)
		d.Read(b)
		names = append(names, unique.Make(string(b)))
	}
	var records []record
	prev := record{id: next}
	m := d.Uvarint()
	for i := uint64(0); d.Err() == nil && i < m; i++ {
		dID := d.Uvarint()
		var t int64
		if i == 0 {
			t = d.Varint()
		} else {
			t = prev.time - int64(d.Uvarint())
		}
		name, uuid := d.Uvarint(), d.Uvarint()
		typ, detail := d.Varint(), d.Varint()
		rec := record{id: prev.id - dID, time: t, typ: Type(typ), detail: int32(detail)}
		switch {
		case d.Err() != nil:
			continue
		case dID == 0 || dID >= prev.id:
			return nil, 0, fmt.Errorf("events: event %d: IDs must be positive and below the next ID", i)
		case i > 0 && t > prev.time:
			return nil, 0, fmt.Errorf("events: event %d: times must not decrease", i)
		case name >= k || uuid >= k:
			return nil, 0, fmt.Errorf("events: event %d: no such name", i)
		case typ != int64(int32(typ)) || detail != int64(int32(detail)):
			return nil, 0, fmt.Errorf("events: event %d: type or detail out of range", i)
		}
		prev = rec
		if len(records) == s.maxCount {
			continue
		}
		if name >= uint64(len(names)) || uuid >= uint64(len(names)) {
			return nil, 0, fmt.Errorf("events: event %d: a name beyond the first %d", i, len(names))
		}
		rec.name, rec.uuid = names[name], names[uuid]
		records = append(records, rec)
	}
	if d.Err() != nil {
		err := d.Err()
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, 0, fmt.Errorf("events: %w", err)
	}
	if !d.AtEnd() {
		return nil, 0, errors.New("events: data after the last event")
	}
	slices.Reverse(records)
	return records, next, nil
}
