package collector

import (
	"strconv"
	"strings"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
)

// domainStateReason is part of the domain sub-collector: the reason comes
// with the state in the bulk call's state group, at no extra cost.
var domainStateReason = domainFamilies.gauge("state_reason",
	"Why the domain is in its state, as libvirt names the reason for that state (paused: user, ioerror, watchdog, migration, ...; shut off: shutdown, destroyed, crashed, ...); always 1.",
	"domain", "state", "reason").
	from(domstats.Count, "state.state", "state.reason")

// reasonNames are libvirt's reasons by state, each named as its
// VIR_DOMAIN_<STATE>_<REASON> constant in lower case: what `virsh domstate
// --reason` shows (user, booted, destroyed, ...), but one word where virsh
// writes prose ("I/O error" is ioerror, "from snapshot" from_snapshot). The
// same number means different reasons in different states.
var reasonNames = map[uint64][]string{
	uint64(libvirt.DomainNostate): {libvirt.DomainNostateUnknown: "unknown"},
	uint64(libvirt.DomainRunning): {
		libvirt.DomainRunningUnknown:           "unknown",
		libvirt.DomainRunningBooted:            "booted",
		libvirt.DomainRunningMigrated:          "migrated",
		libvirt.DomainRunningRestored:          "restored",
		libvirt.DomainRunningFromSnapshot:      "from_snapshot",
		libvirt.DomainRunningUnpaused:          "unpaused",
		libvirt.DomainRunningMigrationCanceled: "migration_canceled",
		libvirt.DomainRunningSaveCanceled:      "save_canceled",
		libvirt.DomainRunningWakeup:            "wakeup",
		libvirt.DomainRunningCrashed:           "crashed",
		libvirt.DomainRunningPostcopy:          "postcopy",
		libvirt.DomainRunningPostcopyFailed:    "postcopy_failed",
	},
	uint64(libvirt.DomainBlocked): {libvirt.DomainBlockedUnknown: "unknown"},
	uint64(libvirt.DomainPaused): {
		libvirt.DomainPausedUnknown:        "unknown",
		libvirt.DomainPausedUser:           "user",
		libvirt.DomainPausedMigration:      "migration",
		libvirt.DomainPausedSave:           "save",
		libvirt.DomainPausedDump:           "dump",
		libvirt.DomainPausedIoerror:        "ioerror",
		libvirt.DomainPausedWatchdog:       "watchdog",
		libvirt.DomainPausedFromSnapshot:   "from_snapshot",
		libvirt.DomainPausedShuttingDown:   "shutting_down",
		libvirt.DomainPausedSnapshot:       "snapshot",
		libvirt.DomainPausedCrashed:        "crashed",
		libvirt.DomainPausedStartingUp:     "starting_up",
		libvirt.DomainPausedPostcopy:       "postcopy",
		libvirt.DomainPausedPostcopyFailed: "postcopy_failed",
		libvirt.DomainPausedAPIError:       "api_error",
	},
	uint64(libvirt.DomainShutdown): {
		libvirt.DomainShutdownUnknown: "unknown",
		libvirt.DomainShutdownUser:    "user",
	},
	uint64(libvirt.DomainShutoff): {
		libvirt.DomainShutoffUnknown:      "unknown",
		libvirt.DomainShutoffShutdown:     "shutdown",
		libvirt.DomainShutoffDestroyed:    "destroyed",
		libvirt.DomainShutoffCrashed:      "crashed",
		libvirt.DomainShutoffMigrated:     "migrated",
		libvirt.DomainShutoffSaved:        "saved",
		libvirt.DomainShutoffFailed:       "failed",
		libvirt.DomainShutoffFromSnapshot: "from_snapshot",
		libvirt.DomainShutoffDaemon:       "daemon",
	},
	uint64(libvirt.DomainCrashed): {
		libvirt.DomainCrashedUnknown:  "unknown",
		libvirt.DomainCrashedPanicked: "panicked",
	},
	uint64(libvirt.DomainPmsuspended): {libvirt.DomainPmsuspendedUnknown: "unknown"},
}

// reasonName names a state's reason; one that this libvirt client does not
// know yet (a newer daemon's) keeps its number rather than passing for
// another.
func reasonName(state, reason uint64) string {
	if names := reasonNames[state]; reason < uint64(len(names)) {
		return names[reason]
	}
	return strconv.FormatUint(reason, 10)
}

// sendStateReason exports the reason, if libvirt gave it, beside the state
// named stateName.
func sendStateReason(s *scrape, d *domstats.Domain, stateName string) {
	if d.StateReason.OK {
		domainStateReason.sendFloat(s.ch, 1, d.Name, stateName, reasonName(d.State.V, d.StateReason.V))
	}
}

// StateReasons lists, for docs/metrics.md, each state's name and the
// names of its reasons, in libvirt's order of states.
func StateReasons() [][2]string {
	var out [][2]string
	for state := uint64(0); state < uint64(len(stateNames)); state++ {
		out = append(out, [2]string{stateNames[state], "`" + strings.Join(reasonNames[state], "`, `") + "`"})
	}
	return out
}
