// Package outage logs a failure that repeats on every retry once per
// outage rather than on every retry: a warning when the outage starts,
// debug lines while it lasts.
package outage

import (
	"log/slog"
	"sync"
)

// Log remembers whether an outage is under way. The zero Log has none.
type Log struct {
	mu      sync.Mutex
	failing bool
}

// Failed logs a failure: at warning level, as startMsg, if it starts an
// outage; at debug level, as ongoingMsg, if one is already under way.
func (l *Log) Failed(logger *slog.Logger, startMsg, ongoingMsg string, args ...any) {
	l.mu.Lock()
	starts := !l.failing
	l.failing = true
	l.mu.Unlock()
	if starts {
		logger.Warn(startMsg, args...)
	} else {
		logger.Debug(ongoingMsg, args...)
	}
}

// Ended ends the outage under way, if any, and reports whether there was one.
func (l *Log) Ended() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ended := l.failing
	l.failing = false
	return ended
}
