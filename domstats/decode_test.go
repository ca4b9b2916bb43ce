package domstats

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/digitalocean/go-libvirt"
)

func ullong(field string, v uint64) libvirt.TypedParam {
	return libvirt.TypedParam{Field: field, Value: libvirt.TypedParamValue{D: 4, I: v}}
}

// The vm.* fields of a KVM guest, as libvirt names them, with the kinds
// and names a hypervisor must not get through.
func TestDecodeKVMStats(t *testing.T) {
	rec := libvirt.DomainStatsRecord{Params: []libvirt.TypedParam{
		ullong("vm.remote_tlb_flush.sum", 7),
		ullong("vm.nx_lpage_splits.cur", 12),
		ullong("vm.max_mmu_page_hash_collisions.max", 3),
		ullong("vm.pages_4k.cur", 8192),
		ullong("vm.halt_poll_ns.hist", 1),                                    // not a kind we export
		ullong("vm.Bad-Name.sum", 1),                                         // not a kernel name
		ullong("vm.sum", 1),                                                  // no name
		{Field: "vm.text.cur", Value: libvirt.TypedParamValue{D: 7, I: "x"}}, // not a number
		ullong("vm."+strings.Repeat("a", maxKVMName+1)+".sum", 1),            // too long
		ullong("vm."+strings.Repeat("b", maxKVMName)+".cur", 2),              // just short enough
	}}
	got := Decode(rec).KVM
	want := []KVMStat{
		{Name: "remote_tlb_flush", Kind: KVMSum, Value: 7},
		{Name: "nx_lpage_splits", Kind: KVMCur, Value: 12},
		{Name: "max_mmu_page_hash_collisions", Kind: KVMMax, Value: 3},
		{Name: "pages_4k", Kind: KVMCur, Value: 8192},
		{Name: strings.Repeat("b", maxKVMName), Kind: KVMCur, Value: 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("vm.* decoded as\n%+v\nwant\n%+v", got, want)
	}
}

func TestDecodeKVMStatsBounded(t *testing.T) {
	var rec libvirt.DomainStatsRecord
	for i := range 10 * maxKVMStats {
		rec.Params = append(rec.Params, ullong(fmt.Sprintf("vm.stat_%d.sum", i), 1))
	}
	if n := len(Decode(rec).KVM); n != maxKVMStats {
		t.Errorf("kept %d vm.* fields of %d, want the bound %d", n, len(rec.Params), maxKVMStats)
	}
}

// add carries every statistic of a Domain: one whose every field is set,
// added for all groups to an empty one, gives it back whole (a field
// added to Domain without its line in add fails here).
func TestAddCarriesEveryField(t *testing.T) {
	var x Domain
	fill(reflect.ValueOf(&x).Elem())
	x.Incomplete = true
	d := Domain{Name: x.Name, UUID: x.UUID, ID: x.ID}
	all := libvirt.DomainStatsState | libvirt.DomainStatsCPUTotal | libvirt.DomainStatsBalloon | libvirt.DomainStatsVCPU |
		libvirt.DomainStatsInterface | libvirt.DomainStatsBlock | libvirt.DomainStatsPerf | libvirt.DomainStatsIothread |
		libvirt.DomainStatsDirtyrate | libvirt.DomainStatsVm
	d.add(&x, all)
	if !reflect.DeepEqual(d, x) {
		t.Errorf("added:\n%+v\nfrom:\n%+v", d, x)
	}
}

// add takes, for each group, the figures that Decode takes from that
// group's fields, and no other.
func TestAddTakesEachGroupsFields(t *testing.T) {
	rec := benchRecord()
	rec.Params = append(rec.Params,
		ullong("perf.cmt", 7), ullong("iothread.count", 1), ullong("iothread.1.poll-max-ns", 8),
		ullong("dirtyrate.calc_status", 2), ullong("dirtyrate.megabytes_per_second", 9), ullong("vm.remote_tlb_flush.sum", 10),
		ullong("block.0.threshold", 11),
	)
	full := Decode(rec)
	for group, prefix := range map[libvirt.DomainStatsTypes]string{
		libvirt.DomainStatsState: "state.", libvirt.DomainStatsCPUTotal: "cpu.", libvirt.DomainStatsBalloon: "balloon.",
		libvirt.DomainStatsVCPU: "vcpu.", libvirt.DomainStatsInterface: "net.", libvirt.DomainStatsBlock: "block.",
		libvirt.DomainStatsPerf: "perf.", libvirt.DomainStatsIothread: "iothread.", libvirt.DomainStatsDirtyrate: "dirtyrate.",
		libvirt.DomainStatsVm: "vm.",
	} {
		only := libvirt.DomainStatsRecord{Dom: rec.Dom}
		for _, p := range rec.Params {
			if strings.HasPrefix(p.Field, prefix) {
				only.Params = append(only.Params, p)
			}
		}
		want := Decode(only)
		got := Domain{Name: rec.Dom.Name, UUID: rec.Dom.UUID, ID: rec.Dom.ID}
		got.add(&full, group)
		if len(only.Params) == 0 || !reflect.DeepEqual(got, want) {
			t.Errorf("%s (%d fields): added\n%+v\ndecoded\n%+v", prefix, len(only.Params), got, want)
		}
	}
}

// fill sets every field of v to something other than its zero value.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i))
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	case reflect.Array:
		for i := range v.Len() {
			fill(v.Index(i))
		}
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	default:
		panic("fill: " + v.Kind().String())
	}
}
