package events

import (
	"encoding/json"
	"time"
)

// Event is one domain lifecycle event.
type Event struct {
	// ID increases by one with every stored event, and jumps ahead
	// across a restart; see NewStore.
	ID         uint64
	Time       time.Time // UTC
	Type       Type
	Detail     int32 // libvirt's detail for Type, or DetailReconciled
	DomainName string
	DomainUUID string
}

// Reason names the detail, e.g. "Booted".
func (e Event) Reason() string { return Reason(e.Type, e.Detail) }

// Reconciled reports whether the event was reconstructed after a lost
// connection rather than reported by libvirt.
func (e Event) Reconciled() bool { return e.Detail == DetailReconciled }

// wireEvent is the API form, vAdvisor's fields first.
type wireEvent struct {
	DomainName string    `json:"domain_name"`
	DomainID   string    `json:"domain_id"`
	Timestamp  time.Time `json:"timestamp"`
	EventType  string    `json:"event_type"`
	Reason     string    `json:"reason"`
	ID         uint64    `json:"id"`
	Reconciled bool      `json:"reconciled,omitempty"`
}

// MarshalJSON gives the event as the API sends it.
func (e Event) MarshalJSON() ([]byte, error) {
	return json.Marshal(wireEvent{
		DomainName: e.DomainName,
		DomainID:   e.DomainUUID,
		Timestamp:  e.Time,
		EventType:  e.Type.String(),
		Reason:     e.Reason(),
		ID:         e.ID,
		Reconciled: e.Reconciled(),
	})
}

// AppendLine appends the event as one NDJSON line, newline included.
func (e Event) AppendLine(b []byte) []byte {
	j, err := e.MarshalJSON()
	if err != nil {
		// Only strings, numbers and a UTC time: cannot fail.
		panic(err)
	}
	return append(append(b, j...), '\n')
}
