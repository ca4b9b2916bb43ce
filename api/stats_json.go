package api

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/vadvisor/vadvisor/domstats"
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
	b = append(b, `},"balloon":{"current":`...)
	b = appendValue(b, m.Current)
	b = append(b, `,"maximum":`...)
	b = appendValue(b, m.Maximum)
	b = append(b, `},"network":{"interfaces":[`...)
	for i := range d.Nets {
		n := &d.Nets[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendString(b, n.Name)
		b = appendField(b, "rx_bytes", n.RxBytes)
		b = appendField(b, "rx_packets", n.RxPkts)
		b = appendField(b, "rx_errors", n.RxErrs)
		b = appendField(b, "rx_dropped", n.RxDrop)
		b = appendField(b, "tx_bytes", n.TxBytes)
		b = appendField(b, "tx_packets", n.TxPkts)
		b = appendField(b, "tx_errors", n.TxErrs)
		b = appendField(b, "tx_dropped", n.TxDrop)
		b = append(b, '}')
	}
	b = append(b, `]},"diskio":[`...)
	for i := range d.Blocks {
		k := &d.Blocks[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendString(b, k.Name)
		b = appendField(b, "rd_reqs", k.RdReqs)
		b = appendField(b, "rd_bytes", k.RdBytes)
		b = appendField(b, "rd_times", k.RdTimes)
		b = appendField(b, "wr_reqs", k.WrReqs)
		b = appendField(b, "wr_bytes", k.WrBytes)
		b = appendField(b, "wr_times", k.WrTimes)
		b = appendField(b, "fl_reqs", k.FlReqs)
		b = appendField(b, "fl_times", k.FlTimes)
		b = appendField(b, "allocation", k.Allocation)
		b = appendField(b, "capacity", k.Capacity)
		b = appendField(b, "physical", k.Physical)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

func appendField(b []byte, name string, v domstats.Value) []byte {
	b = append(b, ",\""...)
	b = append(b, name...)
	b = append(b, "\":"...)
	return appendValue(b, v)
}

func appendValue(b []byte, v domstats.Value) []byte {
	if !v.OK {
		return append(b, "null"...)
	}
	return strconv.AppendUint(b, v.V, 10)
}

// appendMillis writes nanoseconds as milliseconds, always as a JSON float
// (vAdvisor's clients may expect one).
func appendMillis(b []byte, ns domstats.Value) []byte {
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
