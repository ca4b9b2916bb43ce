package api

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
)

// The JSON of a sample is written by hand: a full history is tens of
// thousands of samples, and reflection-based encoding of each would cost
// several times as much.

// domainStates are vAdvisor's names of libvirt's virDomainState values.
var domainStates = [...]string{"Unknown", "Running", "Blocked", "Paused", "Shutdown", "Shutoff", "Crashed", "PMSuspended"}

// vcpuStates are the names of libvirt's virVcpuState values.
var vcpuStates = [...]string{"Offline", "Running", "Blocked"}

const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// appendSample appends one sample in vAdvisor's shape and units: CPU
// times in ms, memory and balloon in KiB (as libvirt gives them), disk
// times in ns. A value libvirt did not return is null.
func appendSample(b []byte, t time.Time, d *domstats.Domain) []byte {
	b = append(b, `{"timestamp":"`...)
	b = t.UTC().AppendFormat(b, timeLayout)
	b = append(b, `","name":`...)
	b = appendString(b, d.Name)
	b = append(b, `,"state":"`...)
	state := "Unknown"
	if d.State.OK && d.State.V < uint64(len(domainStates)) {
		state = domainStates[d.State.V]
	}
	b = append(b, state...)
	b = append(b, `","cpu":{"usage":{"cpu_time":`...)
	b = appendMillis(b, d.CPUTime)
	b = append(b, `,"user_time":`...)
	b = appendMillis(b, d.CPUUser)
	b = append(b, `,"system_time":`...)
	b = appendMillis(b, d.CPUSystem)
	b = append(b, `},"per_cpu_usage":[`...)
	for i, c := range d.VCPUs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"state":`...)
		if c.State.OK && c.State.V < uint64(len(vcpuStates)) {
			b = append(b, '"')
			b = append(b, vcpuStates[c.State.V]...)
			b = append(b, '"')
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"vcpu_time":`...)
		b = appendMillis(b, c.Time)
		b = append(b, '}')
	}
	m := &d.Balloon
	b = append(b, `]},"memory":{"actual":`...)
	b = appendValue(b, m.Current)
	b = append(b, `,"rss":`...)
	b = appendValue(b, m.RSS)
	b = append(b, `,"swap_in":`...)
	b = appendValue(b, m.SwapIn)
	b = append(b, `,"swap_out":`...)
	b = appendValue(b, m.SwapOut)
	b = append(b, `,"major_fault":`...)
	b = appendValue(b, m.MajorFault)
	b = append(b, `,"minor_fault":`...)
	b = appendValue(b, m.MinorFault)
	b = append(b, `,"usable":`...)
	b = appendValue(b, m.Usable)
	b = append(b, `,"unused":`...)
	b = appendValue(b, m.Unused)
	b = append(b, `,"available":`...)
	b = appendValue(b, m.Available)
	b = append(b, `,"disk_caches":`...)
	b = appendValue(b, m.DiskCaches)
	b = append(b, `},"balloon":{"current":`...)
	b = appendValue(b, m.Current)
	b = append(b, `,"maximum":`...)
	b = appendValue(b, m.Maximum)
	b = append(b, `},"network":{"interfaces":[`...)
	for i := range d.Nets {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendDevice(b, d.Nets[i].Name, &d.Nets[i], netFields)
	}
	b = append(b, `]},"diskio":[`...)
	for i := range d.Blocks {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendDevice(b, d.Blocks[i].Name, &d.Blocks[i], blockFields)
	}
	return append(b, "]}"...)
}

// sampleField is a field of a device's object: its name and where the
// device holds it.
type sampleField[T any] struct {
	name string
	at   func(*T) *libvirtval.Value
}

// The fields of an interface's and a disk's object, as domstats describes
// them (those with a sample name), in libvirt's units.
var (
	netFields   = sampleFields(domstats.NetFields)
	blockFields = sampleFields(domstats.BlockFields)
)

func sampleFields[T any](fs []domstats.Field[T]) []sampleField[T] {
	var out []sampleField[T]
	for _, f := range fs {
		if f.Sample != "" {
			out = append(out, sampleField[T]{`,"` + f.Sample + `":`, f.At})
		}
	}
	return out
}

// appendDevice writes one interface or disk: its name, then its fields.
func appendDevice[T any](b []byte, name string, dev *T, fields []sampleField[T]) []byte {
	b = append(b, `{"name":`...)
	b = appendString(b, name)
	for _, f := range fields {
		b = append(b, f.name...)
		b = appendValue(b, *f.at(dev))
	}
	return append(b, '}')
}

func appendValue(b []byte, v libvirtval.Value) []byte {
	if !v.OK {
		return append(b, "null"...)
	}
	return strconv.AppendUint(b, v.V, 10)
}

// appendMillis writes nanoseconds as milliseconds, always as a JSON float
// (vAdvisor's clients may expect one).
func appendMillis(b []byte, ns libvirtval.Value) []byte {
	if !ns.OK {
		return append(b, "null"...)
	}
	b = strconv.AppendUint(b, ns.V/1e6, 10)
	var frac [6]byte
	for i, f := 5, ns.V%1e6; i >= 0; i-- {
		frac[i] = '0' + byte(f%10)
		f /= 10
	}
	n := len(frac)
	for n > 1 && frac[n-1] == '0' {
		n--
	}
	b = append(b, '.')
	return append(b, frac[:n]...)
}

// appendString writes s as a JSON string.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			q, _ := json.Marshal(s) // rare: names are plain ASCII
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
