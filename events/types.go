// Package events records libvirt domain lifecycle events: a subscriber that
// follows libvirt across reconnects, and a bounded in-memory store that
// answers history queries and fans events out to live streams.
package events

import (
	"fmt"
	"strings"

	"github.com/digitalocean/go-libvirt"
)

// Type is a lifecycle event type, libvirt's virDomainEventType.
type Type int32

// The lifecycle event types libvirt knows today.
const (
	Defined     = Type(libvirt.DomainEventDefined)
	Undefined   = Type(libvirt.DomainEventUndefined)
	Started     = Type(libvirt.DomainEventStarted)
	Suspended   = Type(libvirt.DomainEventSuspended)
	Resumed     = Type(libvirt.DomainEventResumed)
	Stopped     = Type(libvirt.DomainEventStopped)
	Shutdown    = Type(libvirt.DomainEventShutdown)
	PMSuspended = Type(libvirt.DomainEventPmsuspended)
	Crashed     = Type(libvirt.DomainEventCrashed)

	numTypes = 9
)

// DetailReconciled is the detail of an event that was not reported by
// libvirt but reconstructed from the domain list, after a lost connection
// or a change libvirt made without an event.
const DetailReconciled int32 = -1

var typeNames = [numTypes]string{"Defined", "Undefined", "Started", "Suspended", "Resumed", "Stopped", "Shutdown", "PMSuspended", "Crashed"}

// reasons names each type's details, indexed by libvirt's
// virDomainEvent*DetailType values (go-libvirt's DomainEvent*DetailType).
var reasons = [numTypes][]string{
	Defined:     {"Added", "Updated", "Renamed", "FromSnapshot"},
	Undefined:   {"Removed", "Renamed"},
	Started:     {"Booted", "Migrated", "Restored", "FromSnapshot", "Wakeup", "Recreated"},
	Suspended:   {"Paused", "Migrated", "IOError", "Watchdog", "Restored", "FromSnapshot", "APIError", "Postcopy", "PostcopyFailed"},
	Resumed:     {"Unpaused", "Migrated", "FromSnapshot", "Postcopy", "PostcopyFailed"},
	Stopped:     {"Shutdown", "Destroyed", "Crashed", "Migrated", "Saved", "Failed", "FromSnapshot", "Recreated"},
	Shutdown:    {"Finished", "Guest", "Host"},
	PMSuspended: {"Memory", "Disk"},
	Crashed:     {"Panicked", "Crashloaded"},
}

// Types lists the known event types in libvirt's order.
func Types() []Type {
	ts := make([]Type, numTypes)
	for i := range ts {
		ts[i] = Type(i)
	}
	return ts
}

func (t Type) known() bool { return t >= 0 && t < numTypes }

// String is the API name of the type, e.g. "Started"; a type newer than
// this table reads "Unknown(N)".
func (t Type) String() string {
	if t.known() {
		return typeNames[t]
	}
	return fmt.Sprintf("Unknown(%d)", int32(t))
}

// Param is the query parameter that selects the type, e.g. "started_events".
func (t Type) Param() string { return strings.ToLower(t.String()) + "_events" }

// Reason names a detail of this type, e.g. "Booted"; an unknown detail
// reads "Unknown(N)".
func Reason(t Type, detail int32) string {
	if detail == DetailReconciled {
		return "Reconciled"
	}
	if t.known() && detail >= 0 && int(detail) < len(reasons[t]) {
		return reasons[t][detail]
	}
	return fmt.Sprintf("Unknown(%d)", detail)
}

// TypeSet is a set of event types. AllTypes also matches types newer than
// this table, so that "everything" never silently drops an event.
type TypeSet uint16

// AllTypes selects every event type.
const AllTypes TypeSet = 1<<numTypes - 1

// Add returns the set with t added.
func (s TypeSet) Add(t Type) TypeSet {
	if !t.known() {
		return s
	}
	return s | 1<<t
}

// Has reports whether t is in the set.
func (s TypeSet) Has(t Type) bool {
	if !t.known() {
		return s == AllTypes
	}
	return s&(1<<t) != 0
}
