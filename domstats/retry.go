package domstats

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/libvirtconn"
)

// The domains a NOWAIT call left partial, or a hung call left out, read
// again; and the marks that keep a stuck domain from being retried. See
// docs/design.md, "Hung guests".

// A retry may wait in libvirtd for the domain's job for up to jobWait,
// on one of libvirtd's worker threads, even once our call gave up: at most
// maxWaiting retries may be waiting so at once. Each hung guest holds a
// worker already. See docs/design.md, "Hung guests".
const (
	jobWait    = 30 * time.Second
	maxWaiting = 3
)

// retryPartial reads again, waiting for the job this time, the domains that
// NOWAIT skipped, unless an earlier retry of theirs failed (stuck): until
// a NOWAIT reading finds such a domain whole again, it is not retried. A
// domain left over when maxWaiting retries may be waiting in libvirtd is
// not retried this time, and counts as incomplete.
func (r *Reader) retryPartial(ctx context.Context, groups libvirt.DomainStatsTypes, doms []Domain) {
	var retry []*Domain
	r.mu.Lock()
	for i := range doms {
		d := &doms[i]
		switch {
		case d.Incomplete: // readEach already failed it, and said why
		case !d.partial():
			delete(r.stuck, d.UUID)
		case r.stuck[d.UUID]:
			d.Incomplete = true
		default:
			retry = append(retry, d)
		}
	}
	now := time.Now()
	r.waiting = slices.DeleteFunc(r.waiting, func(failed time.Time) bool { return now.Sub(failed) >= jobWait })
	if room := max(maxWaiting-len(r.waiting), 0); len(retry) > room {
		for _, d := range retry[room:] {
			d.Incomplete = true
		}
		retry = retry[:room]
	}
	r.mu.Unlock()
	libvirtconn.Each(len(retry), func(i int) {
		d := retry[i]
		recs, err := r.stats(ctx, groups, []libvirt.Domain{d.Ref()}, 0)
		if err == nil && len(recs) == 1 {
			if full := Decode(recs[0]); !full.partial() {
				*d = full
				return
			}
		}
		d.Incomplete = true
		outcome := libvirtconn.Classify(err)
		if outcome == libvirtconn.NotSent {
			return
		}
		r.mu.Lock()
		r.stuck[d.UUID] = true
		if outcome == libvirtconn.TimedOut || outcome == libvirtconn.CutOff {
			r.waiting = append(r.waiting, time.Now())
		}
		r.mu.Unlock()
	})
}

// readEach reads every domain of list with its own NOWAIT call. A domain
// whose call hung is stuck; one whose call failed for any other reason is
// read again, after a redial if need be, up to eachRounds times. See
// docs/design.md, "Hung guests".
func (r *Reader) readEach(ctx context.Context, groups libvirt.DomainStatsTypes, list []libvirt.Domain) []Domain {
	doms := make([]Domain, len(list))
	pending := make([]int, len(list))
	for i := range pending {
		pending[i] = i
	}
	for round := 1; ; round++ {
		var mu sync.Mutex
		var again []int
		libvirtconn.Each(len(pending), func(k int) {
			i := pending[k]
			dom := list[i]
			recs, err := r.stats(ctx, groups, []libvirt.Domain{dom}, libvirt.ConnectGetAllDomainsStatsNowait)
			if err == nil && len(recs) == 1 {
				doms[i] = Decode(recs[0])
				if doms[i].partial() {
					doms[i].Incomplete = true
					r.mu.Lock()
					r.stuck[dom.UUID] = true
					r.mu.Unlock()
				}
				return
			}
			doms[i] = Domain{Name: dom.Name, UUID: dom.UUID, ID: dom.ID, Incomplete: true}
			switch {
			case libvirtconn.Classify(err) == libvirtconn.TimedOut: // no retry waits for its job
				r.mu.Lock()
				r.stuck[dom.UUID] = true
				r.mu.Unlock()
			case err != nil:
				mu.Lock()
				again = append(again, i)
				mu.Unlock()
			}
		})
		if len(again) == 0 || round == eachRounds {
			return doms
		}
		wait, cancel := context.WithTimeout(ctx, r.conn.Timeout())
		_, _ = r.conn.WaitConnected(wait)
		cancel()
		pending = again
	}
}

// eachRounds bounds how often readEach reads a domain whose call failed
// through no fault of its own.
const eachRounds = 3

// forgetGone drops the stuck marks of domains that no longer exist, so the
// set stays bounded by the domains there are.
func (r *Reader) forgetGone(doms []Domain) {
	present := make(map[libvirt.UUID]bool, len(doms))
	for i := range doms {
		present[doms[i].UUID] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for uuid := range r.stuck {
		if !present[uuid] {
			delete(r.stuck, uuid)
		}
	}
}
