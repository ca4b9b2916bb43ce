package libvirtconn

import (
	"errors"
	"fmt"

	"github.com/digitalocean/go-libvirt"
)

var (
	// ErrNotConnected is returned while there is no connection to libvirt.
	ErrNotConnected = errors.New("not connected to libvirt")
	// ErrTimeout is returned when a call outlives its deadline.
	ErrTimeout = errors.New("libvirt call timed out")
	// ErrNoSlot is returned when no request slot freed up in time: the
	// call was never made. It is an ErrTimeout too.
	ErrNoSlot = fmt.Errorf("%w: no free request slot", ErrTimeout)
)

// Outcome says how far a call got, as its error tells (Classify):
//   - Ended: the call is over, nothing of it runs on in libvirtd. It
//     succeeded, libvirt answered with an error, or go-libvirt failed it.
//   - NotSent: libvirt never saw the call: there was no connection, or no
//     request slot freed up in time.
//   - TimedOut: the call was made and outlived its timeout.
//   - CutOff: the call was made and the connection closed under it.
//
// A call that timed out or was cut off may still run in libvirtd, and
// hold a worker there. See docs/design.md, "Bounded calls".
type Outcome int

// The outcomes of a call; see Outcome.
const (
	Ended Outcome = iota
	NotSent
	TimedOut
	CutOff
)

// Classify says how far the call that returned err got.
func Classify(err error) Outcome {
	switch {
	case errors.Is(err, ErrNoSlot), errors.Is(err, ErrNotConnected):
		return NotSent
	case errors.Is(err, ErrTimeout):
		return TimedOut
	case errors.Is(err, libvirt.ErrInterrupted):
		return CutOff
	default:
		return Ended
	}
}
