package domstats

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/digitalocean/go-libvirt"
	"golang.org/x/sync/singleflight"

	"github.com/vadvisor/vadvisor/libvirtconn"
)

// Reading is the statistics of all domains, read from Time for Duration
// (a full reading joined to a sample reading holds the sample's figures
// and those of the groups it left out, read just after). It is shared by
// every caller that asked for it, so it must not be modified.
type Reading struct {
	Time     time.Time
	Duration time.Duration
	Domains  []Domain
}

// Reader makes the bulk stats readings: full ones (Read, for /metrics) and
// samples (ReadSample, for the history and live stats). Overlapping
// callers share the reading in flight, each waiting under its own context,
// and one reading talks to libvirt at a time, so that our own calls never
// hold each other's domain jobs. See docs/design.md, "The Reader".
type Reader struct {
	conn   *libvirtconn.Conn
	groups libvirt.DomainStatsTypes
	flight singleflight.Group
	// one is held by the reading that talks to libvirt.
	one sync.Mutex

	mu     sync.Mutex
	latest *Reading
	// sampling is the sample reading that talks to libvirt, or nil; gen
	// counts the readings begun, sampled is the Time of the last sample
	// reading.
	sampling *sampleCall
	gen      uint64
	sampled  time.Time
	// stuck marks the domains not to retry (retryPartial): their call
	// hung, NOWAIT skipped them in readEach, or their retry failed.
	stuck map[libvirt.UUID]bool
	// waiting holds when each retry that may still wait in libvirtd
	// failed (maxWaiting).
	waiting []time.Time
	// bulkCPU makes readings take the bulk groups for the CPU figures:
	// with a driver other than QEMU's, or once libvirt turned down the
	// per-domain calls.
	bulkCPU bool
}

// SampleGroups are the bulk stats groups whose figures a sample holds:
// state, CPU times, balloon, vCPU states and times, interfaces, disks. A
// reader must read at least these.
const SampleGroups = libvirt.DomainStatsState | libvirt.DomainStatsCPUTotal | libvirt.DomainStatsBalloon |
	libvirt.DomainStatsVCPU | libvirt.DomainStatsInterface | libvirt.DomainStatsBlock

// cpuGroups are the groups whose figures come cheaper from per-domain
// calls with QEMU's driver: every reading takes cpu-total so, a sample
// vcpu too. See docs/design.md, "The history sampler".
const cpuGroups = libvirt.DomainStatsCPUTotal | libvirt.DomainStatsVCPU

// NewReader reads the given stats groups, and at least SampleGroups.
func NewReader(conn *libvirtconn.Conn, groups libvirt.DomainStatsTypes) *Reader {
	qemu := conn != nil && strings.HasPrefix(conn.URI(), "qemu")
	return &Reader{conn: conn, groups: groups | SampleGroups, stuck: map[libvirt.UUID]bool{}, bulkCPU: !qemu}
}

// Latest is the most recent successful reading, full or sample, or nil.
func (r *Reader) Latest() *Reading {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.latest
}

// Read returns a fresh full reading: the one in flight if there is one,
// else a new one, joined to the sample reading in flight if there is one.
// It waits at most until ctx ends; the reading does not.
func (r *Reader) Read(ctx context.Context) (*Reading, error) {
	return r.wait(ctx, "full", r.readFull)
}

// sampleCall is a sample reading under way: done is closed when it ends,
// with rd its reading, or nil if it failed, which holds every figure of
// groups; gen is its number.
type sampleCall struct {
	done   chan struct{}
	rd     *Reading
	groups libvirt.DomainStatsTypes
	gen    uint64
}

// restGroups are the groups a full reading joined to a sample reading may
// add: libvirt gives every figure of theirs that we read without the
// domain's job, so NOWAIT never skips them. (Those of the iothread,
// dirtyrate and vm groups need the job: with one of them, a full reading
// is made whole, with its retries.)
const restGroups = libvirt.DomainStatsCPUTotal | libvirt.DomainStatsVCPU | libvirt.DomainStatsPerf

// readFull makes a full reading, joined to the sample reading in flight
// if there is one (see docs/design.md, "Full readings and samples"):
// it waits for that one and adds the groups it left out. If another
// reading began in between, the sample is no longer the latest and a
// whole reading is made.
func (r *Reader) readFull() (*Reading, error) {
	r.mu.Lock()
	call := r.sampling
	r.mu.Unlock()
	if call != nil {
		<-call.done
	}
	r.one.Lock()
	defer r.one.Unlock()
	r.mu.Lock()
	r.gen++
	joined := call != nil && call.rd != nil && call.gen == r.gen-1 && r.groups&^call.groups&^restGroups == 0
	r.mu.Unlock()
	if !joined {
		rd, _, err := r.readCheapest(r.groups, libvirt.DomainStatsCPUTotal)
		return rd, err
	}
	return r.readRest(call.rd, r.groups&^call.groups)
}

// ReadSample returns a fresh reading of the figures a sample holds (the
// other fields are absent): the sample or full reading in flight if there
// is one, else a new sample reading. Like Read, it waits at most until
// ctx ends.
func (r *Reader) ReadSample(ctx context.Context) (*Reading, error) {
	asked := time.Now()
	return r.wait(ctx, "sample", func() (*Reading, error) {
		r.one.Lock()
		defer r.one.Unlock()
		r.mu.Lock()
		latest := r.latest
		// A full reading that ended while this one waited its turn serves,
		// unless it was joined to the last sample, which its callers have.
		if latest != nil && latest.Time.Add(latest.Duration).After(asked) && latest.Time.After(r.sampled) {
			r.mu.Unlock()
			return latest, nil
		}
		r.gen++
		call := &sampleCall{done: make(chan struct{}), groups: SampleGroups, gen: r.gen}
		r.sampling = call
		r.mu.Unlock()
		defer func() {
			r.mu.Lock()
			r.sampling = nil
			r.mu.Unlock()
			close(call.done)
		}()
		rd, each, err := r.readCheapest(SampleGroups, cpuGroups)
		// vCPU states and times by virDomainGetVcpus lack the wait and delay.
		call.groups = SampleGroups &^ (each & libvirt.DomainStatsVCPU)
		if err == nil {
			call.rd = rd
			r.mu.Lock()
			r.sampled = rd.Time
			r.mu.Unlock()
		}
		return rd, err
	})
}

// wait runs read as the one reading of its kind in flight and waits for
// its result until ctx ends. (read takes r.one while it talks to libvirt.)
func (r *Reader) wait(ctx context.Context, kind string, read func() (*Reading, error)) (*Reading, error) {
	ch := r.flight.DoChan(kind, func() (any, error) {
		rd, err := read()
		if err == nil {
			r.mu.Lock()
			r.latest = rd
			r.mu.Unlock()
		}
		return rd, err
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*Reading), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// redial, while disconnected, asks for a redial now instead of waiting out
// the backoff, but gives it only a moment.
func (r *Reader) redial(ctx context.Context) {
	if !r.conn.Connected() {
		wait, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, _ = r.conn.WaitConnected(wait)
		cancel()
	}
}

// readCheapest reads groups, those of each among cpuGroups by the
// per-domain calls, unless libvirt does not offer them: then, and with a
// driver other than QEMU's, all by the bulk call. It returns the groups
// read by the per-domain calls.
func (r *Reader) readCheapest(groups, each libvirt.DomainStatsTypes) (*Reading, libvirt.DomainStatsTypes, error) {
	r.mu.Lock()
	bulkCPU := r.bulkCPU
	r.mu.Unlock()
	if each &= groups & cpuGroups; each != 0 && !bulkCPU {
		rd, err := r.read(groups, each)
		if !errors.Is(err, errNoCPUCalls) {
			return rd, each, err
		}
	}
	rd, err := r.read(groups, 0)
	return rd, 0, err
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

// readRest adds to sample, a reading of the other groups, the groups
// named and the state, read in a bulk call (split as a reading would be)
// for the sample's domains. Their figures replace those of the sample
// where the two read the same (the state, the vCPU states and times): the
// sample is shared and is not changed. A domain that stopped in between
// is taken as the call found it; one that the call skipped, or that
// started again in between, keeps the sample's figures; one the call
// found hung keeps them too, marked incomplete.
func (r *Reader) readRest(sample *Reading, groups libvirt.DomainStatsTypes) (*Reading, error) {
	if len(sample.Domains) == 0 { // no list would ask for every domain
		return sample, nil
	}
	ctx := context.Background()
	r.redial(ctx)
	list := make([]libvirt.Domain, len(sample.Domains))
	for i := range sample.Domains {
		list[i] = sample.Domains[i].Ref()
	}
	chunks := [][]libvirt.Domain{list}
	if sample.Duration > splitAbove {
		chunks = split(list)
	}
	// A scrape must not show a state older than itself (a guest paused
	// while the sample was read).
	groups |= libvirt.DomainStatsState
	rest, err := r.readChunks(ctx, groups, chunks)
	if err != nil {
		return nil, err
	}
	at := make(map[libvirt.UUID]int, len(rest))
	for i := range rest {
		at[rest[i].UUID] = i
	}
	doms := slices.Clone(sample.Domains)
	for i := range doms {
		j, ok := at[doms[i].UUID]
		switch {
		case !ok:
		case rest[j].ID != doms[i].ID:
			if !rest[j].Active() { // stopped in between
				doms[i] = rest[j]
			}
		case rest[j].Incomplete:
			doms[i].Incomplete = true
		default:
			doms[i].add(&rest[j], groups)
		}
	}
	return &Reading{Time: sample.Time, Duration: time.Since(sample.Time), Domains: doms}, nil
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
		if libvirtconn.Unsent(err) {
			return
		}
		r.mu.Lock()
		r.stuck[d.UUID] = true
		if libvirtconn.Unanswered(err) {
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
			case libvirtconn.Hung(err): // no retry waits for its job
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
