package domstats

import (
	"context"
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
	// talking is held by the reading that talks to libvirt.
	talking sync.Mutex

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
	r.talking.Lock()
	defer r.talking.Unlock()
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
		r.talking.Lock()
		defer r.talking.Unlock()
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
// its result until ctx ends. (read takes r.talking while it talks to libvirt.)
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
