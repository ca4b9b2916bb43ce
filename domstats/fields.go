package domstats

import (
	"github.com/vadvisor/vadvisor/internal/libvirtval"
	"slices"
	"unsafe"

	"github.com/digitalocean/go-libvirt"
)

// A statistic is described once, here: the struct field that holds it and
// its entry in its group's table below. Decoding, the history's compact
// samples, the stats API's per-interface and per-disk objects and the
// Prometheus metrics all read the tables, so a new statistic is a struct
// field and a table entry in this file. (The top of a stats API sample,
// state, cpu, memory, balloon and per_cpu_usage, keeps the original
// vAdvisor's nested shape and is written field by field in
// api/stats_json.go; a new field there also needs a line in that writer.)

// Domain is one domain's bulk statistics, in libvirt's units.
type Domain struct {
	Name        string
	UUID        libvirt.UUID
	ID          int32
	State       libvirtval.Value // libvirt.DomainState
	StateReason libvirtval.Value
	CPUTime     libvirtval.Value // ns
	CPUUser     libvirtval.Value // ns
	CPUSystem   libvirtval.Value // ns
	Balloon     Balloon
	VCPUCurrent libvirtval.Value
	VCPUMaximum libvirtval.Value
	VCPUs       []VCPU
	Nets        []Net
	Blocks      []Block
	Perf        []Perf
	IOThreads   []IOThread
	DirtyRate   DirtyRate
	KVM         []KVMStat
	// Incomplete is set when libvirt skipped the domain's monitor-backed
	// statistics (its job was busy) and a retry could not fill them in.
	Incomplete bool
}

// Active reports whether the domain runs (or is paused): only then does it
// have live counters.
func (d *Domain) Active() bool { return d.ID > 0 }

// Ref is the domain as libvirt's per-domain calls name it.
func (d *Domain) Ref() libvirt.Domain { return libvirt.Domain{Name: d.Name, UUID: d.UUID, ID: d.ID} }

// Balloon holds the balloon.* group.
type Balloon struct {
	Current, Maximum, SwapIn, SwapOut, MajorFault, MinorFault libvirtval.Value
	Unused, Available, Usable, RSS, LastUpdate, DiskCaches    libvirtval.Value
	HugetlbPgalloc, HugetlbPgfail                             libvirtval.Value
}

// VCPU holds vcpu.N.*: State is libvirt.VcpuState.
type VCPU struct {
	State, Time, Wait, Delay libvirtval.Value
}

// Net holds net.N.*.
type Net struct {
	Name                            string
	RxBytes, RxPkts, RxErrs, RxDrop libvirtval.Value
	TxBytes, TxPkts, TxErrs, TxDrop libvirtval.Value
}

// Block holds block.N.*.
type Block struct {
	Name, Path                                string
	RdReqs, RdBytes, RdTimes, WrReqs, WrBytes libvirtval.Value
	WrTimes, FlReqs, FlTimes, Errors          libvirtval.Value
	Allocation, Capacity, Physical, Threshold libvirtval.Value
}

// Perf is one perf.* event counter.
type Perf struct {
	Event string
	Value uint64
}

// KVMStat is one vm.<name>.<kind> field: a statistic the hypervisor (KVM)
// keeps for the whole VM, named by the kernel (remote_tlb_flush, ...).
type KVMStat struct {
	Name  string
	Kind  KVMKind
	Value uint64
}

// KVMKind is how the hypervisor aggregates a vm.* statistic: libvirt's
// suffix of the field.
type KVMKind uint8

// The KVMKinds, one per suffix.
const (
	KVMSum KVMKind = iota // .sum: cumulative, only grows
	KVMCur                // .cur: the current value
	KVMMax                // .max: the highest value seen
)

// IOThread holds iothread.ID.*.
type IOThread struct {
	ID                              uint64
	PollMaxNs, PollGrow, PollShrink libvirtval.Value
}

// DirtyRate holds dirtyrate.*.
type DirtyRate struct {
	CalcStatus, CalcStartTime, CalcPeriod, MegabytesPerSecond libvirtval.Value
}

// Unit is the unit libvirt gives a statistic in.
type Unit uint8

// The units libvirt gives statistics in.
const (
	Count Unit = iota // a number of things, bytes, or a ratio
	Nanoseconds
	Milliseconds
	Seconds
	KiB
	MiB
)

// String is the unit's symbol, or "" for Count.
func (u Unit) String() string {
	return [...]string{Count: "", Nanoseconds: "ns", Milliseconds: "ms", Seconds: "s", KiB: "KiB", MiB: "MiB"}[u]
}

// Kind is what a statistic is as a metric.
type Kind uint8

// A statistic is a gauge or a counter.
const (
	Gauge Kind = iota
	Counter
)

// A Field describes one statistic of T (a Domain, or one device of a
// domain).
type Field[T any] struct {
	Key  string                     // libvirt's name, less the group and the device index
	At   func(*T) *libvirtval.Value // where a T holds it
	Unit Unit
	// Sample marks a field kept in the history. For interfaces and disks
	// it is also the field's name in their stats API objects; the top of a
	// sample (state, cpu, memory, balloon, per_cpu_usage) is written by
	// hand in api/stats_json.go. Empty: the statistic is live only.
	Sample string
	// Metric names its metric within the collector's subsystem for the
	// group, with Help and Kind. Empty: a collector exports it its own way,
	// or not at all.
	Metric string
	Help   string
	Kind   Kind
}

// StateFields are state.*. The collector exports the state with its name
// as a label.
var StateFields = []Field[Domain]{
	{Key: "state", At: func(d *Domain) *libvirtval.Value { return &d.State }, Sample: "state"},
	{Key: "reason", At: func(d *Domain) *libvirtval.Value { return &d.StateReason }},
}

// CPUFields are cpu.* (the domain subsystem: libvirt_domain_*).
var CPUFields = []Field[Domain]{
	{Key: "time", At: func(d *Domain) *libvirtval.Value { return &d.CPUTime }, Unit: Nanoseconds, Sample: "cpu_time",
		Metric: "info_cpu_time_seconds_total", Help: "CPU time used by a running domain.", Kind: Counter},
	{Key: "user", At: func(d *Domain) *libvirtval.Value { return &d.CPUUser }, Unit: Nanoseconds, Sample: "user_time",
		Metric: "cpu_user_seconds_total", Help: "User CPU time used by a running domain's processes.", Kind: Counter},
	{Key: "system", At: func(d *Domain) *libvirtval.Value { return &d.CPUSystem }, Unit: Nanoseconds, Sample: "system_time",
		Metric: "cpu_system_seconds_total", Help: "System CPU time used by a running domain's processes.", Kind: Counter},
}

// BalloonFields are balloon.* (libvirt_domain_memory_stats_*), in the
// order libvirt sends them. The swap figures are gauges, as the inovex
// exporter has them, so that dashboards keep working; they only ever grow. The collector exports last-update
// only when the guest has reported.
var BalloonFields = []Field[Domain]{
	{Key: "current", At: func(d *Domain) *libvirtval.Value { return &d.Balloon.Current }, Unit: KiB, Sample: "current",
		Metric: "current_balloon_bytes", Help: "Current balloon size."},
	{Key: "maximum", At: func(d *Domain) *libvirtval.Value { return &d.Balloon.Maximum }, Unit: KiB, Sample: "maximum",
		Metric: "maximum_bytes", Help: "Maximum balloon size."},
	{Key: "swap_in", At: func(d *Domain) *libvirtval.Value { return &d.Balloon.SwapIn }, Unit: KiB, Sample: "swap_in",
		Metric: "swap_in_bytes", Help: "Memory swapped in by the guest since boot (guest-reported)."},
	{Key: "swap_out", At: func(d *Domain) *libvirtval.Value { return &d.Balloon.SwapOut }, Unit: KiB, Sample: "swap_out",
		Metric: "swap_out_bytes", Help: "Memory swapped out by the guest since boot (guest-reported)."},
	{Key: "major_fault", At: func(d *Domain) *libvirtval.Value { return &d.Balloon.MajorFault }, Sample: "major_fault",
		Metric: "major_fault_total", Help: "Major page faults in the guest (guest-reported).", Kind: Counter},
	{Key: "minor_fault", At: func(d *Domain) *libvirtval.Value { return &d.Balloon.MinorFault }, Sample: "minor_fault",
		Metric: "minor_fault_total", Help: "Minor page faults in the guest (guest-reported).", Kind: Counter},
	{Key: "unused", At: func(d *Domain) *libvirtval.Value { return &d.Balloon.Unused }, Unit: KiB, Sample: "unused",
		Metric: "unused_bytes", Help: "Memory the guest leaves unused (guest-reported)."},
	{Key: "available", At: func(d *Domain) *libvirtval.Value { return &d.Balloon.Available }, Unit: KiB, Sample: "available",
		Metric: "available_bytes", Help: "Memory the guest sees (guest-reported)."},
	{Key: "usable", At: func(d *Domain) *libvirtval.Value { return &d.Balloon.Usable }, Unit: KiB, Sample: "usable",
		Metric: "usable_bytes", Help: "Memory the guest can use without swapping (guest-reported)."},
	{Key: "last-update", At: func(d *Domain) *libvirtval.Value { return &d.Balloon.LastUpdate }, Unit: Seconds,
		Metric: "last_update_timestamp_seconds", Help: "When the guest last reported its memory statistics."},
	{Key: "disk_caches", At: func(d *Domain) *libvirtval.Value { return &d.Balloon.DiskCaches }, Unit: KiB, Sample: "disk_caches",
		Metric: "disk_caches_bytes", Help: "Guest memory used for disk caches that can be reclaimed (guest-reported)."},
	{Key: "hugetlb_pgalloc", At: func(d *Domain) *libvirtval.Value { return &d.Balloon.HugetlbPgalloc },
		Metric: "hugetlb_pgalloc_total", Help: "Successful huge page allocations in the guest (guest-reported).", Kind: Counter},
	{Key: "hugetlb_pgfail", At: func(d *Domain) *libvirtval.Value { return &d.Balloon.HugetlbPgfail },
		Metric: "hugetlb_pgfail_total", Help: "Failed huge page allocations in the guest (guest-reported).", Kind: Counter},
	{Key: "rss", At: func(d *Domain) *libvirtval.Value { return &d.Balloon.RSS }, Unit: KiB, Sample: "rss",
		Metric: "rss_bytes", Help: "Resident set size of the domain's process on the host."},
}

// VCPUCountFields are vcpu.current and vcpu.maximum (libvirt_domain_vcpu_*).
var VCPUCountFields = []Field[Domain]{
	{Key: "current", At: func(d *Domain) *libvirtval.Value { return &d.VCPUCurrent }, Metric: "current", Help: "Number of online vCPUs."},
	{Key: "maximum", At: func(d *Domain) *libvirtval.Value { return &d.VCPUMaximum }, Metric: "maximum", Help: "Maximum number of vCPUs."},
}

// VCPUFields are vcpu.N.* (libvirt_domain_vcpu_*).
var VCPUFields = []Field[VCPU]{
	{Key: "state", At: func(v *VCPU) *libvirtval.Value { return &v.State }, Sample: "state",
		Metric: "state", Help: "vCPU state: 0 offline, 1 running, 2 blocked."},
	{Key: "time", At: func(v *VCPU) *libvirtval.Value { return &v.Time }, Unit: Nanoseconds, Sample: "vcpu_time",
		Metric: "time_seconds_total", Help: "Time the vCPU ran.", Kind: Counter},
	{Key: "wait", At: func(v *VCPU) *libvirtval.Value { return &v.Wait }, Unit: Nanoseconds,
		Metric: "wait_seconds_total", Help: "Time the vCPU waited on I/O (where the hypervisor reports it).", Kind: Counter},
	{Key: "delay", At: func(v *VCPU) *libvirtval.Value { return &v.Delay }, Unit: Nanoseconds,
		Metric: "delay_seconds_total", Help: "Time the vCPU was runnable but waited for a host CPU (steal).", Kind: Counter},
}

// NetFields are net.N.* (libvirt_domain_interface_stats_*).
var NetFields = []Field[Net]{
	{Key: "rx.bytes", At: func(n *Net) *libvirtval.Value { return &n.RxBytes }, Sample: "rx_bytes",
		Metric: "receive_bytes_total", Help: "Bytes received.", Kind: Counter},
	{Key: "rx.pkts", At: func(n *Net) *libvirtval.Value { return &n.RxPkts }, Sample: "rx_packets",
		Metric: "receive_packets_total", Help: "Packets received.", Kind: Counter},
	{Key: "rx.errs", At: func(n *Net) *libvirtval.Value { return &n.RxErrs }, Sample: "rx_errors",
		Metric: "receive_errors_total", Help: "Receive errors.", Kind: Counter},
	{Key: "rx.drop", At: func(n *Net) *libvirtval.Value { return &n.RxDrop }, Sample: "rx_dropped",
		Metric: "receive_drops_total", Help: "Received packets dropped.", Kind: Counter},
	{Key: "tx.bytes", At: func(n *Net) *libvirtval.Value { return &n.TxBytes }, Sample: "tx_bytes",
		Metric: "transmit_bytes_total", Help: "Bytes transmitted.", Kind: Counter},
	{Key: "tx.pkts", At: func(n *Net) *libvirtval.Value { return &n.TxPkts }, Sample: "tx_packets",
		Metric: "transmit_packets_total", Help: "Packets transmitted.", Kind: Counter},
	{Key: "tx.errs", At: func(n *Net) *libvirtval.Value { return &n.TxErrs }, Sample: "tx_errors",
		Metric: "transmit_errors_total", Help: "Transmit errors.", Kind: Counter},
	{Key: "tx.drop", At: func(n *Net) *libvirtval.Value { return &n.TxDrop }, Sample: "tx_dropped",
		Metric: "transmit_drops_total", Help: "Transmitted packets dropped.", Kind: Counter},
}

// BlockFields are block.N.* (libvirt_domain_block_stats_*).
var BlockFields = []Field[Block]{
	{Key: "rd.reqs", At: func(b *Block) *libvirtval.Value { return &b.RdReqs }, Sample: "rd_reqs",
		Metric: "read_requests_total", Help: "Read requests.", Kind: Counter},
	{Key: "rd.bytes", At: func(b *Block) *libvirtval.Value { return &b.RdBytes }, Sample: "rd_bytes",
		Metric: "read_bytes_total", Help: "Bytes read.", Kind: Counter},
	{Key: "rd.times", At: func(b *Block) *libvirtval.Value { return &b.RdTimes }, Unit: Nanoseconds, Sample: "rd_times",
		Metric: "read_time_seconds_total", Help: "Time spent reading.", Kind: Counter},
	{Key: "wr.reqs", At: func(b *Block) *libvirtval.Value { return &b.WrReqs }, Sample: "wr_reqs",
		Metric: "write_requests_total", Help: "Write requests.", Kind: Counter},
	{Key: "wr.bytes", At: func(b *Block) *libvirtval.Value { return &b.WrBytes }, Sample: "wr_bytes",
		Metric: "write_bytes_total", Help: "Bytes written.", Kind: Counter},
	{Key: "wr.times", At: func(b *Block) *libvirtval.Value { return &b.WrTimes }, Unit: Nanoseconds, Sample: "wr_times",
		Metric: "write_time_seconds_total", Help: "Time spent writing.", Kind: Counter},
	{Key: "fl.reqs", At: func(b *Block) *libvirtval.Value { return &b.FlReqs }, Sample: "fl_reqs",
		Metric: "flush_requests_total", Help: "Flush requests.", Kind: Counter},
	{Key: "fl.times", At: func(b *Block) *libvirtval.Value { return &b.FlTimes }, Unit: Nanoseconds, Sample: "fl_times",
		Metric: "flush_time_seconds_total", Help: "Time spent flushing.", Kind: Counter},
	{Key: "errors", At: func(b *Block) *libvirtval.Value { return &b.Errors },
		Metric: "errors_total", Help: "I/O errors (where the hypervisor reports them).", Kind: Counter},
	{Key: "allocation", At: func(b *Block) *libvirtval.Value { return &b.Allocation }, Sample: "allocation",
		Metric: "allocation_bytes", Help: "Highest written offset of the disk image (its allocation)."},
	{Key: "capacity", At: func(b *Block) *libvirtval.Value { return &b.Capacity }, Sample: "capacity",
		Metric: "capacity_bytes", Help: "Size of the disk as the guest sees it."},
	{Key: "physical", At: func(b *Block) *libvirtval.Value { return &b.Physical }, Sample: "physical",
		Metric: "physical_bytes", Help: "Size of the disk image on the host."},
	{Key: "threshold", At: func(b *Block) *libvirtval.Value { return &b.Threshold },
		Metric: "write_threshold_bytes", Help: "Write threshold set on the disk: libvirt sends a block-threshold event when the guest writes beyond it (only while one is set)."},
}

// IOThreadFields are iothread.ID.* (libvirt_domain_iothread_*).
var IOThreadFields = []Field[IOThread]{
	{Key: "poll-max-ns", At: func(t *IOThread) *libvirtval.Value { return &t.PollMaxNs }, Unit: Nanoseconds,
		Metric: "poll_max_seconds", Help: "Maximum polling time of the IOThread (0: polling off)."},
	{Key: "poll-grow", At: func(t *IOThread) *libvirtval.Value { return &t.PollGrow },
		Metric: "poll_grow", Help: "Polling time growth factor of the IOThread."},
	{Key: "poll-shrink", At: func(t *IOThread) *libvirtval.Value { return &t.PollShrink },
		Metric: "poll_shrink", Help: "Polling time shrink divisor of the IOThread."},
}

// DirtyRateFields are dirtyrate.* (libvirt_domain_dirty_rate_*). The
// collector exports the figures of a calculation only once one started.
var DirtyRateFields = []Field[Domain]{
	{Key: "calc_status", At: func(d *Domain) *libvirtval.Value { return &d.DirtyRate.CalcStatus },
		Metric: "calc_status", Help: "Dirty rate calculation: 0 not started, 1 measuring, 2 measured."},
	{Key: "calc_start_time", At: func(d *Domain) *libvirtval.Value { return &d.DirtyRate.CalcStartTime }, Unit: Seconds,
		Metric: "calc_start_timestamp_seconds", Help: "When the last dirty rate calculation started."},
	{Key: "calc_period", At: func(d *Domain) *libvirtval.Value { return &d.DirtyRate.CalcPeriod }, Unit: Seconds,
		Metric: "calc_period_seconds", Help: "Length of the last dirty rate calculation."},
	{Key: "megabytes_per_second", At: func(d *Domain) *libvirtval.Value { return &d.DirtyRate.MegabytesPerSecond }, Unit: MiB,
		Metric: "bytes_per_second", Help: "Memory dirty rate from the last calculation."},
}

// A FieldSet is some of T's fields, by their offsets in T, computed once
// from the tables: decoding and the history's encoding go through every
// field of every domain each second, and reading a field at an offset
// costs no function call.
type FieldSet[T any] struct {
	keys []string // libvirt's names
	offs []uintptr
}

func fieldSet[T any](keep func(*Field[T]) bool, tables ...[]Field[T]) FieldSet[T] {
	t := new(T) // on the heap: it does not move between the calls below
	base, size := uintptr(unsafe.Pointer(t)), unsafe.Sizeof(*t)
	var s FieldSet[T]
	for _, fs := range tables {
		for i := range fs {
			if !keep(&fs[i]) {
				continue
			}
			p := uintptr(unsafe.Pointer(fs[i].At(t)))
			if p < base || p+unsafe.Sizeof(libvirtval.Value{}) > base+size {
				panic("domstats: the field " + fs[i].Key + " is not held in its table's struct")
			}
			if slices.Contains(s.keys, fs[i].Key) || slices.Contains(s.offs, p-base) {
				panic("domstats: the field " + fs[i].Key + " is described twice")
			}
			s.keys = append(s.keys, fs[i].Key)
			s.offs = append(s.offs, p-base)
		}
	}
	return s
}

// Sampled is the fields of the tables kept in the history (those with a
// sample name), in table order.
func Sampled[T any](tables ...[]Field[T]) FieldSet[T] {
	return fieldSet(func(f *Field[T]) bool { return f.Sample != "" }, tables...)
}

// Len is the number of fields in s.
func (s FieldSet[T]) Len() int { return len(s.offs) }

// At is t's i-th field of s.
func (s FieldSet[T]) At(t *T, i int) *libvirtval.Value {
	return (*libvirtval.Value)(unsafe.Add(unsafe.Pointer(t), s.offs[i]))
}

// byKey is t's field that libvirt's name key names, or nil. libvirt sends
// a group's fields in the same order each time, the order of the tables,
// so the search starts after the field found last (*next) and mostly
// ends at once.
func (s FieldSet[T]) byKey(t *T, key string, next *int) *libvirtval.Value {
	i := *next
	for range s.keys {
		if i >= len(s.keys) {
			i = 0
		}
		if s.keys[i] == key {
			*next = i + 1
			return s.At(t, i)
		}
		i++
	}
	return nil
}

func all[T any](fs []Field[T]) FieldSet[T] {
	return fieldSet(func(*Field[T]) bool { return true }, fs)
}

// The fields Decode fills, by group.
var (
	stateKeys     = all(StateFields)
	cpuKeys       = all(CPUFields)
	balloonKeys   = all(BalloonFields)
	vcpuCountKeys = all(VCPUCountFields)
	vcpuKeys      = all(VCPUFields)
	netKeys       = all(NetFields)
	blockKeys     = all(BlockFields)
	iothreadKeys  = all(IOThreadFields)
	dirtyRateKeys = all(DirtyRateFields)
)
