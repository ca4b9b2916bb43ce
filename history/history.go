// Package history keeps a history of per-VM statistics: at every tick of a
// steady clock it takes one bulk reading of all domains and appends one
// sample per active VM to that VM's series of compressed chunks.
package history

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
	"github.com/vadvisor/vadvisor/internal/outage"
)

// History samples all active VMs and keeps each one's recent samples.
type History struct {
	reader    *domstats.Reader
	interval  time.Duration
	retention time.Duration
	logger    *slog.Logger

	// mu guards the series and the ticks.
	mu     sync.RWMutex
	series map[libvirt.UUID]*series
	// ticks are the times (Unix nanoseconds) of the readings recorded, by
	// tick number less tickBase: the samples of one reading share one.
	ticks    []int64
	tickBase uint64
	last     int64 // Unix nanoseconds of the newest reading recorded

	statsMu sync.Mutex
	stats   counters
	outage  outage.Log
}

type counters struct {
	lastDuration time.Duration
	lastTime     time.Time
	samples      uint64
	failures     uint64
	missed       uint64
}

// New checks the settings; sampling starts with Run. A nil logger logs
// nothing.
func New(reader *domstats.Reader, interval, retention time.Duration, logger *slog.Logger) (*History, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if interval <= 0 {
		return nil, fmt.Errorf("history interval must be positive (or 0 to turn the history off), got %s", interval)
	}
	if retention < interval {
		return nil, fmt.Errorf("history retention (%s) must be at least the interval (%s)", retention, interval)
	}
	return &History{
		reader:    reader,
		interval:  interval,
		retention: retention,
		logger:    logger,
		series:    map[libvirt.UUID]*series{},
	}, nil
}

// Interval is the sampling period.
func (h *History) Interval() time.Duration { return h.interval }

// Retention is how long samples are kept.
func (h *History) Retention() time.Duration { return h.retention }

// Run samples at every tick until ctx ends. Ticks sit on a fixed grid: a
// slow reading makes the sampler skip the ticks it overran (a gap in the
// history), never shift or bunch up the later ones.
func (h *History) Run(ctx context.Context) {
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	next := int64(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		h.tick(ctx)
		due := int64(time.Since(start)/h.interval) + 1
		if skipped := due - next - 1; skipped > 0 {
			h.statsMu.Lock()
			h.stats.missed += uint64(skipped)
			h.statsMu.Unlock()
		}
		next = due
		timer.Reset(time.Until(start.Add(time.Duration(next) * h.interval)))
	}
}

// tick records one reading. A reading another user of the reader (a
// scrape) took within half an interval serves as this tick's, so the two
// do not make back-to-back calls to libvirt.
func (h *History) tick(ctx context.Context) {
	begin := time.Now()
	r := h.reader.Latest()
	h.mu.RLock()
	last := h.last
	h.mu.RUnlock()
	if r == nil || time.Since(r.Time) > h.interval/2 || r.Time.UnixNano() <= last {
		var err error
		r, err = h.reader.ReadSample(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			h.failed(err)
			return
		}
	}
	h.Record(r)
	h.statsMu.Lock()
	defer h.statsMu.Unlock()
	h.stats.lastDuration = time.Since(begin)
	h.stats.lastTime = r.Time
	h.stats.samples++
	if h.outage.Ended() {
		h.logger.Info("history sampling resumed")
	}
}

// failed counts a tick without a reading; the log says so once per outage.
func (h *History) failed(err error) {
	h.statsMu.Lock()
	defer h.statsMu.Unlock()
	h.stats.failures++
	h.outage.Failed(h.logger, "history sampling paused: cannot read domain stats", "history sampling still paused", "err", err)
}

// Record appends a sample per active VM from a reading (Run records one
// per tick), then drops the chunks, and the series of VMs that are gone,
// older than the retention. A reading not newer than the last is ignored.
func (h *History) Record(r *domstats.Reading) {
	t := r.Time.UnixNano()
	h.mu.Lock()
	defer h.mu.Unlock()
	if t <= h.last {
		return
	}
	h.last = t
	tick := h.tickBase + uint64(len(h.ticks))
	h.ticks = append(h.ticks, t)
	for i := range r.Domains {
		d := &r.Domains[i]
		if !d.Active() {
			continue
		}
		s := h.series[d.UUID]
		if s == nil {
			s = &series{}
			h.series[d.UUID] = s
		}
		s.push(tick, d)
	}
	h.dropOld(t)
}

// dropOld drops the chunks, and the series, whose samples are all older
// than the retention at time now, and the reading times no chunk uses.
// The caller holds h.mu.
func (h *History) dropOld(now int64) {
	keep := h.tickBase + uint64(sort.Search(len(h.ticks), func(i int) bool { return h.ticks[i] > now-int64(h.retention) }))
	oldest := h.tickBase + uint64(len(h.ticks))
	for id, s := range h.series {
		if !s.trim(keep) {
			delete(h.series, id)
			continue
		}
		oldest = min(oldest, s.oldest())
	}
	h.ticks = h.ticks[oldest-h.tickBase:]
	h.tickBase = oldest
}

// Newest is the time of the newest reading recorded (zero before the
// first): every VM's samples up to it are in place, so a client that
// reads only what is newer than it next time misses nothing.
func (h *History) Newest() time.Time {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.last == 0 {
		return time.Time{}
	}
	return time.Unix(0, h.last).UTC()
}

// UUIDs lists the VMs that have samples, in byte order.
func (h *History) UUIDs() []libvirt.UUID {
	h.mu.RLock()
	ids := make([]libvirt.UUID, 0, len(h.series))
	for id := range h.series {
		ids = append(ids, id)
	}
	h.mu.RUnlock()
	slices.SortFunc(ids, func(a, b libvirt.UUID) int { return bytes.Compare(a[:], b[:]) })
	return ids
}

// Query selects a VM's samples: those taken from From to To (zero: from the
// oldest kept, to the newest). With Step > 0 only one sample per step is
// kept: the last one taken in each window (k*Step, (k+1)*Step] of Unix
// time, so that the samples chosen do not move as the range slides.
type Query struct {
	From, To time.Time
	Step     time.Duration
}

// Range calls fn with the VM's samples that q selects, oldest first, and
// reports whether the VM has any sample at all; fn returns false to stop.
// fn's domain is reused from call to call: copy what it keeps. The
// sampler is held up only while the VM's chunks are listed.
func (h *History) Range(id libvirt.UUID, q Query, fn func(t time.Time, d *domstats.Domain) bool) bool {
	h.mu.RLock()
	s := h.series[id]
	if s == nil {
		h.mu.RUnlock()
		return false
	}
	chunks, ticks, base := s.chunks(), h.ticks, h.tickBase
	from, to := h.last-int64(h.retention)+1, int64(math.MaxInt64)
	h.mu.RUnlock()
	if !q.From.IsZero() {
		from = max(from, q.From.UnixNano())
	}
	if !q.To.IsZero() {
		to = q.To.UnixNano()
	}
	w := walk{fn: fn, step: int64(q.Step)}
	w.d.UUID = id
	for _, c := range chunks {
		if ticks[c.last-base] < from || ticks[c.first-base] > to {
			continue
		}
		var err error
		if w.ticks, w.vals, err = c.decode(w.ticks, w.vals); err != nil {
			h.logger.Error("history chunk does not decode", "uuid", libvirtval.UUIDString(id), "err", err)
			continue
		}
		size := c.layout.size()
		for i, tick := range w.ticks {
			if t := ticks[tick-base]; t >= from && t <= to && !w.sample(t, c.layout, w.vals[i*size:(i+1)*size]) {
				return true
			}
		}
	}
	w.flush()
	return true
}

// walk hands a Range's samples to its fn, keeping back each one until it
// is known to be the last of its step window.
type walk struct {
	fn           func(t time.Time, d *domstats.Domain) bool
	step         int64
	d            domstats.Domain
	ticks, vals  []uint64 // a chunk's, decoded
	pending      []uint64 // with a step: the last sample seen
	pendingT     int64
	pendingOf    *layout
	stopped, has bool
}

func (w *walk) sample(t int64, l *layout, row []uint64) bool {
	if w.step <= 0 {
		return w.emit(t, l, row)
	}
	if w.has && window(w.pendingT, w.step) != window(t, w.step) && !w.emit(w.pendingT, w.pendingOf, w.pending) {
		return false
	}
	w.pending, w.pendingT, w.pendingOf, w.has = append(w.pending[:0], row...), t, l, true
	return true
}

func (w *walk) flush() {
	if w.has && !w.stopped {
		w.emit(w.pendingT, w.pendingOf, w.pending)
	}
}

func (w *walk) emit(t int64, l *layout, row []uint64) bool {
	l.decode(row, &w.d)
	w.stopped = !w.fn(time.Unix(0, t).UTC(), &w.d)
	return !w.stopped
}

// window numbers the step window (k*step, (k+1)*step] that t falls in.
func window(t, step int64) int64 {
	return (t - 1) / step
}

// memory is the heap the samples hold; the caller holds h.mu.
func (h *History) memory() int {
	n := cap(h.ticks) * 8
	for _, s := range h.series {
		n += s.memory()
	}
	return n
}
