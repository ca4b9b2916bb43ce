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
			set(stateField(&d, rest), p.Value)
		case "cpu":
			set(cpuField(&d, rest), p.Value)
		case "balloon":
			set(d.Balloon.field(rest), p.Value)
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
				set(d.VCPUs[i].field(field), p.Value)
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
			set(n.field(field), p.Value)
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
				set(b.field(field), p.Value)
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
			set(t.field(field), p.Value)
		case "dirtyrate":
			set(d.DirtyRate.field(rest), p.Value)
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

// set stores a numeric parameter in dst, the field it names, if any.
func set(dst *Value, v libvirt.TypedParamValue) {
	if dst != nil {
		*dst = number(v)
	}
}

// The field methods map a parameter's name, less its group and index, to
// the field it fills; nil for a name this package does not read.

func stateField(d *Domain, name string) *Value {
	switch name {
	case "state":
		return &d.State
	case "reason":
		return &d.StateReason
	}
	return nil
}

func cpuField(d *Domain, name string) *Value {
	switch name {
	case "time":
		return &d.CPUTime
	case "user":
		return &d.CPUUser
	case "system":
		return &d.CPUSystem
	}
	return nil
}

func (b *Balloon) field(name string) *Value {
	switch name {
	case "current":
		return &b.Current
	case "maximum":
		return &b.Maximum
	case "swap_in":
		return &b.SwapIn
	case "swap_out":
		return &b.SwapOut
	case "major_fault":
		return &b.MajorFault
	case "minor_fault":
		return &b.MinorFault
	case "unused":
		return &b.Unused
	case "available":
		return &b.Available
	case "usable":
		return &b.Usable
	case "rss":
		return &b.RSS
	case "last-update":
		return &b.LastUpdate
	case "disk_caches":
		return &b.DiskCaches
	case "hugetlb_pgalloc":
		return &b.HugetlbPgalloc
	case "hugetlb_pgfail":
		return &b.HugetlbPgfail
	}
	return nil
}

func (v *VCPU) field(name string) *Value {
	switch name {
	case "state":
		return &v.State
	case "time":
		return &v.Time
	case "wait":
		return &v.Wait
	case "delay":
		return &v.Delay
	}
	return nil
}

func (n *Net) field(name string) *Value {
	switch name {
	case "rx.bytes":
		return &n.RxBytes
	case "rx.pkts":
		return &n.RxPkts
	case "rx.errs":
		return &n.RxErrs
	case "rx.drop":
		return &n.RxDrop
	case "tx.bytes":
		return &n.TxBytes
	case "tx.pkts":
		return &n.TxPkts
	case "tx.errs":
		return &n.TxErrs
	case "tx.drop":
		return &n.TxDrop
	}
	return nil
}

func (b *Block) field(name string) *Value {
	switch name {
	case "rd.reqs":
		return &b.RdReqs
	case "rd.bytes":
		return &b.RdBytes
	case "rd.times":
		return &b.RdTimes
	case "wr.reqs":
		return &b.WrReqs
	case "wr.bytes":
		return &b.WrBytes
	case "wr.times":
		return &b.WrTimes
	case "fl.reqs":
		return &b.FlReqs
	case "fl.times":
		return &b.FlTimes
	case "errors":
		return &b.Errors
	case "allocation":
		return &b.Allocation
	case "capacity":
		return &b.Capacity
	case "physical":
		return &b.Physical
	}
	return nil
}

func (t *IOThread) field(name string) *Value {
	switch name {
	case "poll-max-ns":
		return &t.PollMaxNs
	case "poll-grow":
		return &t.PollGrow
	case "poll-shrink":
		return &t.PollShrink
	}
	return nil
}

func (r *DirtyRate) field(name string) *Value {
	switch name {
	case "calc_status":
		return &r.CalcStatus
	case "calc_start_time":
		return &r.CalcStartTime
	case "calc_period":
		return &r.CalcPeriod
	case "megabytes_per_second":
		return &r.MegabytesPerSecond
	}
	return nil
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
