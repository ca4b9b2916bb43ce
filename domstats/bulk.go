package domstats

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/libvirtconn"
)

// The bulk calls of a reading: one for every domain, or after a slow
// reading, chunks read in parallel; readEach (retry.go) takes over a
// chunk whose call hung. See docs/design.md, "One bulk call per reading".

// redial, while disconnected, asks for a redial now instead of waiting out
// the backoff, but gives it only a moment.
func (r *Reader) redial(ctx context.Context) {
	if !r.conn.Connected() {
		wait, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, _ = r.conn.WaitConnected(wait)
		cancel()
	}
}

// read reads groups: those of each (cpuGroups) for every running domain
// by the per-domain calls, the others by the bulk call. Detached from
// every caller, its calls are bounded one by one.
func (r *Reader) read(groups, each libvirt.DomainStatsTypes) (*Reading, error) {
	groups &^= each
	ctx := context.Background()
	start := time.Now()
	r.redial(ctx)
	// One bulk call for every domain, unless the last reading was slow:
	// then the domains are listed and read in parallel chunks. With a
	// domain filter, the watched domains are listed and only they are
	// read, so a domain left out costs libvirt nothing.
	chunks := [][]libvirt.Domain{nil}
	last := r.Latest()
	slow := last != nil && last.Duration > splitAbove
	if slow || r.conn.Filtering() {
		list, err := r.list(ctx)
		if err != nil {
			return nil, err
		}
		if len(list) == 0 { // an empty list would ask for every domain
			return &Reading{Time: start, Duration: time.Since(start)}, nil
		}
		chunks = [][]libvirt.Domain{list}
		if slow {
			chunks = split(list)
		}
	}
	doms, err := r.readChunks(ctx, groups, chunks)
	if err != nil {
		return nil, err
	}
	r.retryPartial(ctx, groups, doms)
	r.forgetGone(doms)
	if each != 0 {
		if err := r.readCPU(ctx, doms, each); err != nil {
			return nil, err
		}
	}
	return &Reading{Time: start, Duration: time.Since(start), Domains: doms}, nil
}

// readChunks makes one bulk call per chunk, in parallel, and returns the
// domains of all.
func (r *Reader) readChunks(ctx context.Context, groups libvirt.DomainStatsTypes, chunks [][]libvirt.Domain) ([]Domain, error) {
	parts := make([][]Domain, len(chunks))
	errs := make([]error, len(chunks))
	var wg sync.WaitGroup
	for i, chunk := range chunks {
		wg.Go(func() {
			parts[i], errs[i] = r.readChunk(ctx, groups, chunk)
		})
	}
	wg.Wait()
	var doms []Domain
	for i := range parts {
		if errs[i] != nil {
			return nil, errs[i]
		}
		doms = append(doms, parts[i]...)
	}
	return doms, nil
}

// When the last reading took longer than splitAbove, the bulk call is split
// into calls of at least chunkSize running domains made in parallel, at
// most MaxInFlight-1 (30 real guests: about 0.6x the time of one call).
// See docs/design.md, "One bulk call per reading".
const (
	splitAbove = 50 * time.Millisecond
	chunkSize  = 8
)

// split deals the running domains round-robin into chunks of at least
// chunkSize; the shut-off ones (cheap: state only) go into the first.
func split(list []libvirt.Domain) [][]libvirt.Domain {
	running := 0
	for _, d := range list {
		if d.ID > 0 {
			running++
		}
	}
	n := min(max(running/chunkSize, 1), libvirtconn.MaxInFlight-1)
	if n == 1 {
		return [][]libvirt.Domain{list}
	}
	chunks := make([][]libvirt.Domain, n)
	next := 0
	for _, d := range list {
		if d.ID <= 0 {
			chunks[0] = append(chunks[0], d)
			continue
		}
		chunks[next%n] = append(chunks[next%n], d)
		next++
	}
	return chunks
}

// list lists every watched domain, active or not.
func (r *Reader) list(ctx context.Context) ([]libvirt.Domain, error) {
	doms, err := libvirtconn.Do(ctx, r.conn, func(l *libvirt.Libvirt) ([]libvirt.Domain, error) {
		doms, _, err := l.ConnectListAllDomains(1, 0)
		return doms, err
	})
	return r.conn.WatchedOnly(doms), err
}

// stats makes one bulk call of groups for the domains of doms, or for
// every domain if doms is nil.
func (r *Reader) stats(ctx context.Context, groups libvirt.DomainStatsTypes, doms []libvirt.Domain, flags libvirt.ConnectGetAllDomainStatsFlags) ([]libvirt.DomainStatsRecord, error) {
	return libvirtconn.Do(ctx, r.conn, func(l *libvirt.Libvirt) ([]libvirt.DomainStatsRecord, error) {
		return l.ConnectGetAllDomainStats(doms, uint32(groups), uint32(flags))
	})
}

// readChunk makes one bulk call with NOWAIT for the domains of chunk, or
// for every domain if chunk is nil.
func (r *Reader) readChunk(ctx context.Context, groups libvirt.DomainStatsTypes, chunk []libvirt.Domain) ([]Domain, error) {
	recs, err := r.stats(ctx, groups, chunk, libvirt.ConnectGetAllDomainsStatsNowait)
	switch {
	case err == nil:
		doms := make([]Domain, len(recs))
		for i, rec := range recs {
			doms[i] = Decode(rec)
		}
		return doms, nil
	case errors.Is(err, libvirtconn.ErrTimeout):
		// A guest whose monitor hangs holds the bulk call; our timed-out call
		// still holds that guest's job, so reading each domain on its own
		// with NOWAIT skips just that guest.
		if chunk == nil {
			if chunk, err = r.list(ctx); err != nil {
				return nil, err
			}
		}
		return r.readEach(ctx, groups, chunk), nil
	default:
		return nil, err
	}
}
