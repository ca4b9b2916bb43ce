package history

import (
	"github.com/vadvisor/vadvisor/domstats"
)

// series is one VM's samples: sealed chunks, oldest first, then the head
// that new samples go to. History.mu guards it.
type series struct {
	sealed []*chunk
	head   *head // nil until the first sample, and after a seal
}

// push appends the domain's sample taken at tick, in a new chunk when the
// head is full or the domain's name or devices changed.
func (s *series) push(tick uint64, d *domstats.Domain) {
	if s.head != nil && (s.head.n == chunkSamples || !s.head.layout.matches(d)) {
		s.sealed = append(s.sealed, s.head.seal())
		s.head = nil
	}
	if s.head == nil {
		l := (*layout)(nil)
		if n := len(s.sealed); n > 0 && s.sealed[n-1].layout.matches(d) {
			l = s.sealed[n-1].layout // shared, not stored again
		} else {
			l = newLayout(d)
		}
		s.head = newHead(l)
	}
	s.head.push(tick, d)
}

// trim drops the chunks whose samples all came before tick keep, and
// reports whether any sample is left.
func (s *series) trim(keep uint64) bool {
	n := 0
	for n < len(s.sealed) && s.sealed[n].last < keep {
		n++
	}
	if n > 0 {
		s.sealed = append(s.sealed[:0], s.sealed[n:]...)
	}
	if len(s.sealed) == 0 && s.head != nil && s.head.last < keep {
		s.head = nil
	}
	return len(s.sealed) > 0 || s.head != nil
}

// oldest is the tick of the series' oldest sample.
func (s *series) oldest() uint64 {
	if len(s.sealed) > 0 {
		return s.sealed[0].first
	}
	return s.head.first
}

// chunks returns the series' samples as chunks that never change: the
// sealed ones, and a copy of the head.
func (s *series) chunks() []*chunk {
	out := make([]*chunk, len(s.sealed), len(s.sealed)+1)
	copy(out, s.sealed)
	if s.head != nil {
		out = append(out, s.head.seal())
	}
	return out
}

func (s *series) memory() int {
	n := cap(s.sealed) * 8
	var last *layout
	for _, c := range s.sealed {
		n += c.memory()
		if c.layout != last {
			n += c.layout.memory()
			last = c.layout
		}
	}
	if s.head != nil {
		n += s.head.memory()
		if s.head.layout != last {
			n += s.head.layout.memory()
		}
	}
	return n
}
