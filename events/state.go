package events

import (
	"sort"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/internal/libvirtval"
)

// The subscriber's state model: what it knows of each domain (kept
// current from events), and the events that lead from one state to
// another, recorded as reconciled when libvirt sent none.

// domainState is what the subscriber knows of a domain, coarse enough to
// be kept current from events alone.
type domainState struct {
	name       string
	id         int32 // libvirt's run id, -1 while inactive
	state      libvirt.DomainState
	persistent bool
}

func (d domainState) active() bool { return d.id != -1 }

// coarse folds the states that lifecycle events do not tell apart.
func coarse(s libvirt.DomainState) libvirt.DomainState {
	switch s {
	case libvirt.DomainPaused, libvirt.DomainShutoff, libvirt.DomainCrashed, libvirt.DomainPmsuspended:
		return s
	default:
		return libvirt.DomainRunning
	}
}

// apply updates known with the effect of one event.
func apply(known map[libvirt.UUID]domainState, msg libvirt.DomainEventLifecycleMsg) {
	d, ok := known[msg.Dom.UUID]
	if !ok {
		d = domainState{id: -1, state: libvirt.DomainShutoff}
	}
	d.name = msg.Dom.Name
	switch Type(msg.Event) {
	case Defined:
		d.persistent = true
	case Undefined:
		d.persistent = false
		if !d.active() {
			delete(known, msg.Dom.UUID)
			return
		}
	case Started:
		d.id, d.state = msg.Dom.ID, libvirt.DomainRunning
	case Suspended:
		d.state = libvirt.DomainPaused
	case Resumed:
		d.state = libvirt.DomainRunning
	case Stopped:
		if !d.persistent {
			delete(known, msg.Dom.UUID)
			return
		}
		d.id, d.state = -1, libvirt.DomainShutoff
	case PMSuspended:
		d.state = libvirt.DomainPmsuspended
	case Crashed:
		d.state = libvirt.DomainCrashed
	}
	known[msg.Dom.UUID] = d
}

// eventsBetween lists the event types that lead from domain state before
// to after; existed and exists tell whether the domain was there before
// and after.
func eventsBetween(before domainState, existed bool, after domainState, exists bool) []Type {
	if !existed {
		before = domainState{id: -1, state: libvirt.DomainShutoff}
	}
	if !exists {
		after = domainState{id: -1, state: libvirt.DomainShutoff}
	}
	var ts []Type
	if exists && after.persistent && (!existed || !before.persistent || after.name != before.name) {
		ts = append(ts, Defined)
	}
	restarted := before.active() && after.active() && before.id != after.id
	if after.state == libvirt.DomainCrashed && (before.state != libvirt.DomainCrashed || restarted) {
		ts = append(ts, Crashed)
	}
	if before.active() && (!after.active() || restarted) {
		ts = append(ts, Stopped)
	}
	if after.active() {
		prev := before.state
		if !before.active() || restarted {
			ts = append(ts, Started)
			prev = libvirt.DomainRunning
		}
		switch {
		case after.state == libvirt.DomainPaused && prev != libvirt.DomainPaused:
			ts = append(ts, Suspended)
		case after.state == libvirt.DomainPmsuspended && prev != libvirt.DomainPmsuspended:
			ts = append(ts, PMSuspended)
		case after.state == libvirt.DomainRunning && prev == libvirt.DomainPaused:
			ts = append(ts, Resumed)
		case after.state == libvirt.DomainRunning && prev == libvirt.DomainPmsuspended:
			ts = append(ts, Started)
		}
	}
	if existed && before.persistent && (!exists || !after.persistent) {
		ts = append(ts, Undefined)
	}
	return ts
}

// listed is a domain as a listing showed it, or its absence.
type listed struct {
	domainState
	exists bool
}

// check records, as reconciled, the changes of the domains that differ
// from known in current the same way as in differing (the previous
// listing), and brings known in line with them. It returns the domains
// that differ otherwise, for the next check. Domains that are gone and
// whose going changed nothing (a transient one that never ran) are
// dropped from known.
func (s *Subscriber) check(known, current map[libvirt.UUID]domainState, differing map[libvirt.UUID]listed) map[libvirt.UUID]listed {
	var next map[libvirt.UUID]listed
	before, after := map[libvirt.UUID]domainState{}, map[libvirt.UUID]domainState{}
	compare := func(u libvirt.UUID) {
		k, had := known[u]
		c, has := current[u]
		if len(eventsBetween(k, had, c, has)) == 0 {
			if had && !has {
				delete(known, u)
			}
			return
		}
		now := listed{c, has}
		if prev, ok := differing[u]; !ok || prev != now {
			if next == nil {
				next = map[libvirt.UUID]listed{}
			}
			next[u] = now
			return
		}
		if had {
			before[u] = k
		}
		if has {
			after[u] = c
			known[u] = c
		} else {
			delete(known, u)
		}
	}
	for u := range known {
		compare(u)
	}
	for u := range current {
		if _, ok := known[u]; !ok {
			compare(u)
		}
	}
	if n := s.reconcile(before, after, nil); n > 0 {
		s.logger.Info("recorded changes libvirt made without an event", "events", n)
	}
	return next
}

// record stores a live event of a watched domain and applies it to known. An event of another
// run than the one known to be running means that run stopped without an
// event (see follow): that Stopped is recorded first, reconciled. (virsh
// start sends Resumed, then Started, both of the new run.)
func (s *Subscriber) record(msg libvirt.DomainEventLifecycleMsg, known map[libvirt.UUID]domainState) {
	if !s.conn.Watched(msg.Dom.Name) {
		return // left out by the domain filter
	}
	if k, ok := known[msg.Dom.UUID]; ok && k.active() && msg.Dom.ID > 0 && msg.Dom.ID != k.id {
		s.store.Add(Event{Type: Stopped, Detail: DetailReconciled, DomainName: k.name, DomainUUID: libvirtval.UUIDString(msg.Dom.UUID)})
		apply(known, libvirt.DomainEventLifecycleMsg{Dom: libvirt.Domain{Name: k.name, UUID: msg.Dom.UUID, ID: -1}, Event: int32(Stopped)})
	}
	s.store.Add(Event{
		Type:       Type(msg.Event),
		Detail:     msg.Detail,
		DomainName: msg.Dom.Name,
		DomainUUID: libvirtval.UUIDString(msg.Dom.UUID),
	})
	apply(known, msg)
}

// reconcile records, as reconciled events, the changes between the
// states before and after a gap in the subscription, except those that
// one of the live events will report (each stands for one change), and
// returns how many it recorded.
func (s *Subscriber) reconcile(before, after map[libvirt.UUID]domainState, live []libvirt.DomainEventLifecycleMsg) int {
	type change struct {
		uuid libvirt.UUID
		t    Type
	}
	reported := map[change]int{}
	for _, msg := range live {
		reported[change{msg.Dom.UUID, Type(msg.Event)}]++
	}
	uuids := make([]libvirt.UUID, 0, len(after))
	for u := range before {
		uuids = append(uuids, u)
	}
	for u := range after {
		if _, ok := before[u]; !ok {
			uuids = append(uuids, u)
		}
	}
	sort.Slice(uuids, func(i, j int) bool { return string(uuids[i][:]) < string(uuids[j][:]) })
	n := 0
	for _, u := range uuids {
		b, hadB := before[u]
		a, hasA := after[u]
		name := a.name
		if !hasA {
			name = b.name
		}
		for _, t := range eventsBetween(b, hadB, a, hasA) {
			if c := (change{u, t}); reported[c] > 0 {
				reported[c]--
				continue
			}
			s.store.Add(Event{Type: t, Detail: DetailReconciled, DomainName: name, DomainUUID: libvirtval.UUIDString(u)})
			n++
		}
	}
	return n
}
