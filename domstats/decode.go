// Package domstats reads the bulk statistics of all domains in one libvirt
// call and decodes libvirt's typed parameters into plain structs, shared by
// the Prometheus collector and the history sampler.
package domstats

import (
	"github.com/vadvisor/vadvisor/internal/libvirtval"
	"strconv"
	"strings"

	"github.com/digitalocean/go-libvirt"
)

// maxIndex bounds the per-device index a record may name, so that a
// malformed record cannot make us allocate without limit.
const maxIndex = 4096

// Decode turns one bulk stats record into a Domain. Unknown fields are
// ignored; a field of the wrong type is treated as absent.
func Decode(rec libvirt.DomainStatsRecord) Domain {
	d := Domain{Name: rec.Dom.Name, UUID: rec.Dom.UUID, ID: rec.Dom.ID}
	var next struct{ state, cpu, balloon, vcpuCount, vcpu, net, block, iothread, dirtyRate int }
	for _, p := range rec.Params {
		group, rest, _ := strings.Cut(p.Field, ".")
		switch group {
		case "state":
			set(stateKeys.byKey(&d, rest, &next.state), p.Value)
		case "cpu":
			set(cpuKeys.byKey(&d, rest, &next.cpu), p.Value)
		case "balloon":
			set(balloonKeys.byKey(&d, rest, &next.balloon), p.Value)
		case "vcpu":
			v, key := device(&d.VCPUs, rest, "current", p.Value)
			if v == nil {
				set(vcpuCountKeys.byKey(&d, key, &next.vcpuCount), p.Value)
				continue
			}
			set(vcpuKeys.byKey(v, key, &next.vcpu), p.Value)
		case "net":
			n, key := device(&d.Nets, rest, "count", p.Value)
			switch {
			case n == nil:
			case key == "name":
				n.Name = libvirtval.Text(p.Value)
			default:
				set(netKeys.byKey(n, key, &next.net), p.Value)
			}
		case "block":
			b, key := device(&d.Blocks, rest, "count", p.Value)
			switch {
			case b == nil:
			case key == "name":
				b.Name = libvirtval.Text(p.Value)
			case key == "path":
				b.Path = libvirtval.Text(p.Value)
			default:
				set(blockKeys.byKey(b, key, &next.block), p.Value)
			}
		case "perf":
			if v := libvirtval.Number(p.Value); v.OK && rest != "" {
				d.Perf = append(d.Perf, Perf{Event: rest, Value: v.V})
			}
		case "iothread":
			idText, key, ok := strings.Cut(rest, ".")
			id, err := strconv.ParseUint(idText, 10, 32)
			if !ok || err != nil {
				continue
			}
			set(iothreadKeys.byKey(iothread(&d, id), key, &next.iothread), p.Value)
		case "dirtyrate":
			set(dirtyRateKeys.byKey(&d, rest, &next.dirtyRate), p.Value)
		case "vm":
			if s, ok := kvmStat(rest, p.Value); ok && len(d.KVM) < maxKVMStats {
				d.KVM = append(d.KVM, s)
			}
		}
	}
	return d
}

// maxKVMStats bounds the vm.* fields kept per domain (a kernel has a few
// dozen), and maxKVMName their names' length, so that a hypervisor cannot
// make us export without limit.
const (
	maxKVMStats = 256
	maxKVMName  = 64
)

var kvmKinds = map[string]KVMKind{"sum": KVMSum, "cur": KVMCur, "max": KVMMax}

// kvmStat decodes vm.<name>.<sum|cur|max>; names are kept only if they are
// made of lower case letters, digits and underscores, as the kernel's are,
// so they are safe as label values and metric name parts alike. Other
// kinds of statistics (histograms) and non-numeric values are left out.
func kvmStat(rest string, v libvirt.TypedParamValue) (KVMStat, bool) {
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 || i > maxKVMName {
		return KVMStat{}, false
	}
	kind, ok := kvmKinds[rest[i+1:]]
	n := libvirtval.Number(v)
	if !ok || !n.OK {
		return KVMStat{}, false
	}
	name := rest[:i]
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return KVMStat{}, false
		}
	}
	return KVMStat{Name: name, Kind: kind, Value: n.V}, true
}

// add takes from x, the same domain's reading of groups alone, the
// figures of those groups, in place of d's.
func (d *Domain) add(x *Domain, groups libvirt.DomainStatsTypes) {
	has := func(g libvirt.DomainStatsTypes) bool { return groups&g != 0 }
	if has(libvirt.DomainStatsState) {
		d.State, d.StateReason = x.State, x.StateReason
	}
	if has(libvirt.DomainStatsCPUTotal) {
		d.CPUTime, d.CPUUser, d.CPUSystem = x.CPUTime, x.CPUUser, x.CPUSystem
	}
	if has(libvirt.DomainStatsBalloon) {
		d.Balloon = x.Balloon
	}
	if has(libvirt.DomainStatsVCPU) {
		d.VCPUCurrent, d.VCPUMaximum, d.VCPUs = x.VCPUCurrent, x.VCPUMaximum, x.VCPUs
	}
	if has(libvirt.DomainStatsInterface) {
		d.Nets = x.Nets
	}
	if has(libvirt.DomainStatsBlock) {
		d.Blocks = x.Blocks
	}
	if has(libvirt.DomainStatsPerf) {
		d.Perf = x.Perf
	}
	if has(libvirt.DomainStatsIothread) {
		d.IOThreads = x.IOThreads
	}
	if has(libvirt.DomainStatsDirtyrate) {
		d.DirtyRate = x.DirtyRate
	}
	if has(libvirt.DomainStatsVm) {
		d.KVM = x.KVM
	}
	d.Incomplete = d.Incomplete || x.Incomplete
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
func set(dst *libvirtval.Value, v libvirt.TypedParamValue) {
	if dst != nil {
		*dst = libvirtval.Number(v)
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

// device is the device of *devs that rest ("N.key") names, and key;
// *devs grows to hold it. For a name without an index it is nil, and rest:
// the one that announces how many devices follow (count) reserves room
// for them, if none came yet.
func device[T any](devs *[]T, rest, count string, v libvirt.TypedParamValue) (*T, string) {
	i, key, ok := indexed(rest)
	if !ok {
		if n := libvirtval.Number(v); rest == count && *devs == nil && n.OK && n.V > 0 {
			*devs = make([]T, 0, min(n.V, maxIndex))
		}
		return nil, rest
	}
	*devs = grow(*devs, i)
	return &(*devs)[i], key
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
