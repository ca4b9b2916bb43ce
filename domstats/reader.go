package domstats

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/libvirtconn"
)

// Reading is the statistics of all domains at one moment. It is shared by
// every caller that asked for it, so it must not be modified.
type Reading struct {
	Time     time.Time
	Duration time.Duration
	Domains  []Domain
}

// Reader makes the bulk stats call. Concurrent callers share one call in
// flight instead of each making their own: our own overlapping calls would
// otherwise hold each other's domain jobs and, with NOWAIT, come back with
// stats missing.
type Reader struct {
	conn   *libvirtconn.Conn
	groups libvirt.DomainStatsTypes

	mu     sync.Mutex
	flight *flight
	latest *Reading
	stuck  map[libvirt.UUID]bool // domains whose retry timed out
}

type flight struct {
	done chan struct{}
	r    *Reading
	err  error
}

// NewReader reads the given stats groups.
func NewReader(conn *libvirtconn.Conn, groups libvirt.DomainStatsTypes) *Reader {
	return &Reader{conn: conn, groups: groups, stuck: map[libvirt.UUID]bool{}}
}

// Groups are the stats groups each reading holds.
func (r *Reader) Groups() libvirt.DomainStatsTypes { return r.groups }

// Latest is the most recent successful reading, or nil.
func (r *Reader) Latest() *Reading {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.latest
}

// Read returns a fresh reading: the one in flight if there is one, else a
// new one bounded by ctx.
func (r *Reader) Read(ctx context.Context) (*Reading, error) {
	r.mu.Lock()
	f := r.flight
	leader := f == nil
	if leader {
		f = &flight{done: make(chan struct{})}
		r.flight = f
	}
	r.mu.Unlock()
	if !leader {
		select {
		case <-f.done:
			return f.r, f.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.r, f.err = r.read(ctx)
	r.mu.Lock()
	r.flight = nil
	if f.err == nil {
		r.latest = f.r
	}
	r.mu.Unlock()
	close(f.done)
	return f.r, f.err
}

func (r *Reader) read(ctx context.Context) (*Reading, error) {
	start := time.Now()
	nowait := uint32(libvirt.ConnectGetAllDomainsStatsNowait)
	recs, err := libvirtconn.Do(ctx, r.conn, func(l *libvirt.Libvirt) ([]libvirt.DomainStatsRecord, error) {
		return l.ConnectGetAllDomainStats(nil, uint32(r.groups), nowait)
	})
	var doms []Domain
	switch {
	case err == nil:
		doms = make([]Domain, len(recs))
		for i, rec := range recs {
			doms[i] = Decode(rec)
		}
		r.retryPartial(ctx, doms)
	case errors.Is(err, libvirtconn.ErrTimeout) && ctx.Err() == nil:
		// A guest whose monitor hangs holds the bulk call; our timed-out call
		// still holds that guest's job, so reading each domain on its own
		// with NOWAIT skips just that guest.
		doms, err = r.readEach(ctx)
		if err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	return &Reading{Time: start, Duration: time.Since(start), Domains: doms}, nil
}

// retryPartial reads again, waiting for the job this time, the domains that
// NOWAIT skipped, unless an earlier retry of theirs timed out.
func (r *Reader) retryPartial(ctx context.Context, doms []Domain) {
	var wg sync.WaitGroup
	for i := range doms {
		d := &doms[i]
		partial := d.partial()
		r.mu.Lock()
		stuck := r.stuck[d.UUID]
		if !partial {
			delete(r.stuck, d.UUID)
		}
		r.mu.Unlock()
		if !partial {
			continue
		}
		if stuck {
			d.Incomplete = true
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs, err := libvirtconn.Do(ctx, r.conn, func(l *libvirt.Libvirt) ([]libvirt.DomainStatsRecord, error) {
				return l.ConnectGetAllDomainStats([]libvirt.Domain{{Name: d.Name, UUID: d.UUID, ID: d.ID}}, uint32(r.groups), 0)
			})
			if err == nil && len(recs) == 1 {
				if full := Decode(recs[0]); !full.partial() {
					*d = full
					return
				}
			}
			d.Incomplete = true
			if errors.Is(err, libvirtconn.ErrTimeout) {
				r.mu.Lock()
				r.stuck[d.UUID] = true
				r.mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// readEach reads every domain with its own NOWAIT call.
func (r *Reader) readEach(ctx context.Context) ([]Domain, error) {
	list, err := libvirtconn.Do(ctx, r.conn, func(l *libvirt.Libvirt) ([]libvirt.Domain, error) {
		doms, _, err := l.ConnectListAllDomains(1, 0)
		return doms, err
	})
	if err != nil {
		return nil, err
	}
	doms := make([]Domain, len(list))
	var wg sync.WaitGroup
	for i, dom := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs, err := libvirtconn.Do(ctx, r.conn, func(l *libvirt.Libvirt) ([]libvirt.DomainStatsRecord, error) {
				return l.ConnectGetAllDomainStats([]libvirt.Domain{dom}, uint32(r.groups), uint32(libvirt.ConnectGetAllDomainsStatsNowait))
			})
			if err != nil || len(recs) != 1 {
				doms[i] = Domain{Name: dom.Name, UUID: dom.UUID, ID: dom.ID, Incomplete: true}
				return
			}
			doms[i] = Decode(recs[0])
			if doms[i].partial() {
				doms[i].Incomplete = true
				r.mu.Lock()
				r.stuck[dom.UUID] = true
				r.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return doms, nil
}
