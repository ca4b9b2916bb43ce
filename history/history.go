// Package history keeps a short history of per-VM statistics: at every
// tick of a steady clock it takes one bulk reading of all domains and
// appends one compact sample per active VM to that VM's fixed-size ring.
package history

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/internal/outage"
)

// History samples all active VMs and keeps each one's recent samples.
type History struct {
	reader    *domstats.Reader
	interval  time.Duration
	retention time.Duration
	capacity  int
	logger    *slog.Logger

	// mu guards the set of rings; each ring guards its own samples.
	mu    sync.RWMutex
	rings map[libvirt.UUID]*ring
	last  int64 // Unix nanoseconds of the newest reading recorded

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

// New checks the settings; sampling starts with Run.
func New(reader *domstats.Reader, interval, retention time.Duration, logger *slog.Logger) (*History, error) {
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
		capacity:  int(retention / interval),
		logger:    logger,
		rings:     map[libvirt.UUID]*ring{},
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
// per tick), then drops the samples, and the rings of VMs that are gone,
// older than the retention. A reading not newer than the last is ignored.
func (h *History) Record(r *domstats.Reading) {
	t := r.Time.UnixNano()
	cutoff := t - int64(h.retention)
	h.mu.Lock()
	defer h.mu.Unlock()
	if t <= h.last {
		return
	}
	h.last = t
	for i := range r.Domains {
		d := &r.Domains[i]
		if !d.Active() {
			continue
		}
		rg := h.rings[d.UUID]
		if rg == nil {
			rg = newRing(h.capacity)
			h.rings[d.UUID] = rg
		}
		rg.push(t, d)
	}
	for id, rg := range h.rings {
		if rg.trim(cutoff) == 0 {
			delete(h.rings, id)
		}
	}
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
	ids := make([]libvirt.UUID, 0, len(h.rings))
	for id := range h.rings {
		ids = append(ids, id)
	}
	h.mu.RUnlock()
	slices.SortFunc(ids, func(a, b libvirt.UUID) int { return bytes.Compare(a[:], b[:]) })
	return ids
}

// Samples returns copies of the VM's samples, oldest first, in buf,
// reusing the storage of buf's elements, and reports whether the VM has
// any. The sampler is held up only while this one VM is copied.
func (h *History) Samples(id libvirt.UUID, buf []Sample) ([]Sample, bool) {
	h.mu.RLock()
	rg := h.rings[id]
	h.mu.RUnlock()
	if rg == nil {
		return buf[:0], false
	}
	buf = rg.copyTo(buf)
	return buf, len(buf) > 0
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
// fn's domain is reused from call to call: copy what it keeps.
func (h *History) Range(id libvirt.UUID, q Query, fn func(t time.Time, d *domstats.Domain) bool) bool {
	h.mu.RLock()
	rg := h.rings[id]
	h.mu.RUnlock()
	if rg == nil {
		return false
	}
	samples := rg.copyTo(nil)
	if len(samples) == 0 {
		return false
	}
	var d domstats.Domain
	d.UUID = id
	from, to := q.From.UnixNano(), q.To.UnixNano()
	for i := range samples {
		s := &samples[i]
		if (!q.From.IsZero() && s.time < from) || (!q.To.IsZero() && s.time > to) {
			continue
		}
		if q.Step > 0 && i+1 < len(samples) && (q.To.IsZero() || samples[i+1].time <= to) &&
			window(samples[i+1].time, q.Step) == window(s.time, q.Step) {
			continue // a later sample of the same window follows
		}
		s.Decode(&d)
		if !fn(s.Time(), &d) {
			break
		}
	}
	return true
}

// window numbers the step window (k*step, (k+1)*step] that t falls in.
func window(t int64, step time.Duration) int64 {
	return (t - 1) / int64(step)
}
