package events

import (
	"context"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/libvirtconn"
)

// list reads every watched domain's state, as far as lifecycle events tell it,
// taking the domains in passing states as known holds them (see currentState).
// It uses the listing calls and DomainGetState, which libvirtd answers
// from memory on its high-priority workers: neither a hung guest's
// monitor nor libvirtd's normal workers all waiting on hung guests stall
// it.
func (s *Subscriber) list(ctx context.Context, known map[libvirt.UUID]domainState) (map[libvirt.UUID]domainState, error) {
	listing := func(flags libvirt.ConnectListAllDomainsFlags) ([]libvirt.Domain, error) {
		return libvirtconn.Do(ctx, s.conn, func(l *libvirt.Libvirt) ([]libvirt.Domain, error) {
			doms, _, err := l.ConnectListAllDomains(1, flags)
			return doms, err
		})
	}
	stateOf := func(d libvirt.Domain) (libvirt.DomainState, int32, error) {
		type stateReason struct{ state, reason int32 }
		sr, err := libvirtconn.Do(ctx, s.conn, func(l *libvirt.Libvirt) (stateReason, error) {
			state, reason, err := l.DomainGetState(d, 0)
			return stateReason{state, reason}, err
		})
		return libvirt.DomainState(sr.state), sr.reason, err
	}
	all, err := listing(0)
	if err != nil {
		return nil, err
	}
	all = s.conn.WatchedOnly(all) // the other listings count only for these
	current := make(map[libvirt.UUID]domainState, len(all))
	for _, d := range all {
		state := libvirt.DomainRunning
		if d.ID == -1 {
			state = libvirt.DomainShutoff
		}
		current[d.UUID] = domainState{name: d.Name, id: d.ID, state: state, persistent: true}
	}
	transient, err := listing(libvirt.ConnectListDomainsTransient)
	if err != nil {
		return nil, err
	}
	for _, d := range transient {
		if c, ok := current[d.UUID]; ok {
			c.persistent = false
			current[d.UUID] = c
		}
	}
	paused, err := listing(libvirt.ConnectListDomainsPaused)
	if err != nil {
		return nil, err
	}
	for _, d := range paused {
		c, ok := current[d.UUID]
		if !ok {
			continue
		}
		c.state = libvirt.DomainPaused
		// Why it is paused matters only if the events did not say so.
		if k, ok := known[d.UUID]; !ok || k != c {
			state, reason, err := stateOf(d)
			if err != nil {
				return nil, err
			}
			c = currentState(c, state, reason, k, ok)
		}
		current[d.UUID] = c
	}
	// Neither running, paused nor shut off: ask each (there are few).
	other, err := listing(libvirt.ConnectListDomainsOther)
	if err != nil {
		return nil, err
	}
	for _, d := range other {
		c, ok := current[d.UUID]
		if !ok {
			continue
		}
		state, reason, err := stateOf(d)
		if err != nil {
			return nil, err
		}
		k, had := known[d.UUID]
		current[d.UUID] = currentState(c, state, reason, k, had)
	}
	return current, nil
}

// currentState is the state a listing records for a domain it listed as
// listed, whose state and reason GetState gave, given what the events
// said of it (known, if isKnown):
//   - starting up or migrating in, it is paused until libvirt sends its
//     Started (and Resumed) event: it stays as the events left it, or not
//     started yet if they left another run (or nothing). This lasts as
//     long as the start or the migration does;
//   - shutting down (or in a state lifecycle events do not tell apart),
//     it keeps the state the events gave the same run: a paused guest
//     being destroyed did not resume.
func currentState(listed domainState, state libvirt.DomainState, reason int32, known domainState, isKnown bool) domainState {
	if starting(state, reason) {
		if isKnown && (!known.active() || known.id == listed.id) {
			return known
		}
		return domainState{name: listed.name, id: -1, state: libvirt.DomainShutoff, persistent: listed.persistent}
	}
	listed.state = coarse(state)
	if listed.state == libvirt.DomainRunning && state != libvirt.DomainRunning && isKnown && known.active() && known.id == listed.id {
		listed.state = known.state
	}
	return listed
}

// starting tells a domain paused only until libvirt sends its Started
// (and Resumed) event: one starting up or migrating in.
func starting(state libvirt.DomainState, reason int32) bool {
	return state == libvirt.DomainPaused &&
		(reason == int32(libvirt.DomainPausedStartingUp) || reason == int32(libvirt.DomainPausedMigration))
}
