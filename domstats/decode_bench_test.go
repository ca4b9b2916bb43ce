package domstats

import (
	"strconv"
	"testing"

	"github.com/digitalocean/go-libvirt"
)

// benchRecord is a running domain's full bulk record: two vCPUs, two
// interfaces and two disks, every field libvirt 9 sends for them.
func benchRecord() libvirt.DomainStatsRecord {
	rec := libvirt.DomainStatsRecord{Dom: libvirt.Domain{Name: "vm", ID: 7}}
	add := func(field string, v any) {
		rec.Params = append(rec.Params, libvirt.TypedParam{Field: field, Value: libvirt.TypedParamValue{I: v}})
	}
	add("state.state", int32(1))
	add("state.reason", int32(1))
	for _, f := range []string{"time", "user", "system"} {
		add("cpu."+f, uint64(123456789))
	}
	for _, f := range []string{"current", "maximum", "swap_in", "swap_out", "major_fault", "minor_fault", "unused", "available", "usable", "last-update", "disk_caches", "hugetlb_pgalloc", "hugetlb_pgfail", "rss"} {
		add("balloon."+f, uint64(1048576))
	}
	add("vcpu.current", uint32(2))
	add("vcpu.maximum", uint32(2))
	for i := range 2 {
		p := "vcpu." + strconv.Itoa(i) + "."
		add(p+"state", int32(1))
		add(p+"time", uint64(5e9))
		add(p+"wait", uint64(0))
		add(p+"delay", uint64(1e6))
	}
	add("net.count", uint32(2))
	for i := range 2 {
		p := "net." + strconv.Itoa(i) + "."
		add(p+"name", "tap"+strconv.Itoa(i))
		for _, f := range []string{"rx.bytes", "rx.pkts", "rx.errs", "rx.drop", "tx.bytes", "tx.pkts", "tx.errs", "tx.drop"} {
			add(p+f, uint64(4242))
		}
	}
	add("block.count", uint32(2))
	for i := range 2 {
		p := "block." + strconv.Itoa(i) + "."
		add(p+"name", "vd"+string(rune('a'+i)))
		add(p+"path", "/var/lib/vm.img")
		add(p+"backingIndex", uint32(1))
		for _, f := range []string{"rd.reqs", "rd.bytes", "rd.times", "wr.reqs", "wr.bytes", "wr.times", "fl.reqs", "fl.times", "allocation", "capacity", "physical"} {
			add(p+f, uint64(4096))
		}
	}
	return rec
}

func BenchmarkDecode(b *testing.B) {
	rec := benchRecord()
	b.ReportAllocs()
	for b.Loop() {
		Decode(rec)
	}
}
