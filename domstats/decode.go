// Package domstats reads the bulk statistics of all domains in one libvirt
// call and decodes libvirt's typed parameters into plain structs, shared by
// the Prometheus collector and the history sampler.
package domstats

import (
	"math"
	"strconv"
	"strings"

	"github.com/digitalocean/go-libvirt"
)

// Value is a statistic that libvirt may or may not have returned: a value it
// did not return must never be exported as 0.
type Value struct {
	V  uint64
	OK bool
}

// Domain is one domain's bulk statistics, in libvirt's units.
type Domain struct {
	Name        string
	UUID        libvirt.UUID
	ID          int32
	State       Value // libvirt.DomainState
	StateReason Value
	CPUTime     Value // ns
	CPUUser     Value // ns
	CPUSystem   Value // ns
	Balloon     Balloon
	VCPUCurrent Value
	VCPUMaximum Value
	VCPUs       []VCPU
	Nets        []Net
	Blocks      []Block
	Perf        []Perf
	IOThreads   []IOThread
	DirtyRate   DirtyRate
	// Incomplete is set when libvirt skipped the domain's monitor-backed
	// statistics (its job was busy) and a retry could not fill them in.
	Incomplete bool
}

// Active reports whether the domain runs (or is paused): only then does it
// have live counters.
func (d *Domain) Active() bool { return d.ID > 0 }

// Balloon holds the balloon.* group: sizes in KiB, faults in counts,
// LastUpdate in seconds since the epoch.
type Balloon struct {
	Current, Maximum, SwapIn, SwapOut, MajorFault, MinorFault Value
	Unused, Available, Usable, RSS, LastUpdate, DiskCaches    Value
	HugetlbPgalloc, HugetlbPgfail                             Value
}

// VCPU holds vcpu.N.*: State is libvirt.VcpuState, times in ns.
type VCPU struct {
	State, Time, Wait, Delay Value
}

// Net holds net.N.*.
type Net struct {
	Name                            string
	RxBytes, RxPkts, RxErrs, RxDrop Value
	TxBytes, TxPkts, TxErrs, TxDrop Value
}

// Block holds block.N.*: times in ns, sizes in bytes.
type Block struct {
	Name, Path                                string
	RdReqs, RdBytes, RdTimes, WrReqs, WrBytes Value
	WrTimes, FlReqs, FlTimes, Errors          Value
	Allocation, Capacity, Physical            Value
}

// Perf is one perf.* event counter.
type Perf struct {
	Event string
	Value uint64
}

// IOThread holds iothread.ID.*.
type IOThread struct {
	ID                              uint64
	PollMaxNs, PollGrow, PollShrink Value
}

// DirtyRate holds dirtyrate.*.
type DirtyRate struct {
	CalcStatus, CalcStartTime, CalcPeriod, MegabytesPerSecond Value
}

// maxIndex bounds the per-device index a record may name, so that a
// malformed record cannot make us allocate without limit.
const maxIndex = 4096

// Decode turns one bulk stats record into a Domain. Unknown fields are
// ignored; a field of the wrong type is treated as absent.
func Decode(rec libvirt.DomainStatsRecord) Domain {
	d := Domain{Name: rec.Dom.Name, UUID: rec.Dom.UUID, ID: rec.Dom.ID}
	for _, p := range rec.Params {
		group, rest, _ := strings.Cut(p.Field, ".")
		switch group {
		case "state":
			setTop(rest, p.Value, map[string]*Value{"state": &d.State, "reason": &d.StateReason})
		case "cpu":
			setTop(rest, p.Value, map[string]*Value{"time": &d.CPUTime, "user": &d.CPUUser, "system": &d.CPUSystem})
		case "balloon":
			b := &d.Balloon
			setTop(rest, p.Value, map[string]*Value{
				"current": &b.Current, "maximum": &b.Maximum, "swap_in": &b.SwapIn, "swap_out": &b.SwapOut,
				"major_fault": &b.MajorFault, "minor_fault": &b.MinorFault, "unused": &b.Unused,
				"available": &b.Available, "usable": &b.Usable, "rss": &b.RSS, "last-update": &b.LastUpdate,
				"disk_caches": &b.DiskCaches, "hugetlb_pgalloc": &b.HugetlbPgalloc, "hugetlb_pgfail": &b.HugetlbPgfail,
			})
		case "vcpu":
			switch rest {
			case "current":
				d.VCPUCurrent = number(p.Value)
			case "maximum":
				d.VCPUMaximum = number(p.Value)
			default:
				i, field, ok := indexed(rest)
				if !ok {
					continue
				}
				d.VCPUs = grow(d.VCPUs, i)
				v := &d.VCPUs[i]
				setTop(field, p.Value, map[string]*Value{"state": &v.State, "time": &v.Time, "wait": &v.Wait, "delay": &v.Delay})
			}
		case "net":
			i, field, ok := indexed(rest)
			if !ok {
				continue
			}
			d.Nets = grow(d.Nets, i)
			n := &d.Nets[i]
			if field == "name" {
				n.Name = str(p.Value)
				continue
			}
			setTop(field, p.Value, map[string]*Value{
				"rx.bytes": &n.RxBytes, "rx.pkts": &n.RxPkts, "rx.errs": &n.RxErrs, "rx.drop": &n.RxDrop,
				"tx.bytes": &n.TxBytes, "tx.pkts": &n.TxPkts, "tx.errs": &n.TxErrs, "tx.drop": &n.TxDrop,
			})
		case "block":
			i, field, ok := indexed(rest)
			if !ok {
				continue
			}
			d.Blocks = grow(d.Blocks, i)
			b := &d.Blocks[i]
			switch field {
			case "name":
				b.Name = str(p.Value)
			case "path":
				b.Path = str(p.Value)
			default:
				setTop(field, p.Value, map[string]*Value{
					"rd.reqs": &b.RdReqs, "rd.bytes": &b.RdBytes, "rd.times": &b.RdTimes,
					"wr.reqs": &b.WrReqs, "wr.bytes": &b.WrBytes, "wr.times": &b.WrTimes,
					"fl.reqs": &b.FlReqs, "fl.times": &b.FlTimes, "errors": &b.Errors,
					"allocation": &b.Allocation, "capacity": &b.Capacity, "physical": &b.Physical,
				})
			}
		case "perf":
			if v := number(p.Value); v.OK && rest != "" {
				d.Perf = append(d.Perf, Perf{Event: rest, Value: v.V})
			}
		case "iothread":
			idText, field, ok := strings.Cut(rest, ".")
			id, err := strconv.ParseUint(idText, 10, 32)
			if !ok || err != nil {
				continue
			}
			t := iothread(&d, id)
			setTop(field, p.Value, map[string]*Value{"poll-max-ns": &t.PollMaxNs, "poll-grow": &t.PollGrow, "poll-shrink": &t.PollShrink})
		case "dirtyrate":
			r := &d.DirtyRate
			setTop(rest, p.Value, map[string]*Value{
				"calc_status": &r.CalcStatus, "calc_start_time": &r.CalcStartTime,
				"calc_period": &r.CalcPeriod, "megabytes_per_second": &r.MegabytesPerSecond,
			})
		}
	}
	return d
}

// partial reports whether libvirt skipped the stats that need the domain's
// job (NOWAIT): block counters and the balloon's RSS come back missing.
func (d *Domain) partial() bool {
	if !d.Active() {
		return false
	}
	for _, b := range d.Blocks {
		if !b.Capacity.OK && !b.RdReqs.OK {
			return true
		}
	}
	return d.Balloon.Current.OK && !d.Balloon.RSS.OK
}

func setTop(field string, v libvirt.TypedParamValue, fields map[string]*Value) {
	if dst, ok := fields[field]; ok {
		*dst = number(v)
	}
}

func indexed(rest string) (int, string, bool) {
	idx, field, ok := strings.Cut(rest, ".")
	if !ok {
		return 0, "", false
	}
	i, err := strconv.Atoi(idx)
	if err != nil || i < 0 || i >= maxIndex {
		return 0, "", false
	}
	return i, field, true
}

func grow[T any](s []T, i int) []T {
	for len(s) <= i {
		var zero T
		s = append(s, zero)
	}
	return s
}

func iothread(d *Domain, id uint64) *IOThread {
	for i := range d.IOThreads {
		if d.IOThreads[i].ID == id {
			return &d.IOThreads[i]
		}
	}
	if len(d.IOThreads) >= maxIndex {
		return &IOThread{} // dropped: absurd record
	}
	d.IOThreads = append(d.IOThreads, IOThread{ID: id})
	return &d.IOThreads[len(d.IOThreads)-1]
}

// number converts libvirt's numeric typed values; negative and non-numeric
// values count as absent, as no statistic here can be negative.
func number(v libvirt.TypedParamValue) Value {
	switch x := v.I.(type) {
	case int32:
		if x >= 0 {
			return Value{uint64(x), true}
		}
	case uint32:
		return Value{uint64(x), true}
	case int64:
		if x >= 0 {
			return Value{uint64(x), true}
		}
	case uint64:
		return Value{x, true}
	case float64:
		if x >= 0 && x <= math.MaxUint64 {
			return Value{uint64(x), true}
		}
	}
	return Value{}
}

func str(v libvirt.TypedParamValue) string {
	s, _ := v.I.(string)
	return s
}

// Param finds a numeric typed parameter by name, for the calls other than
// the bulk one that answer in typed parameters (job stats).
func Param(params []libvirt.TypedParam, field string) Value {
	for _, p := range params {
		if p.Field == field {
			return number(p.Value)
		}
	}
	return Value{}
}
