package domstats

import (
	"encoding/binary"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
	"math"
	"strings"
	"testing"

	"github.com/digitalocean/go-libvirt"
)

// FuzzDecode feeds Decode bulk stats records of arbitrary fields and typed
// values (they come from the daemon, and a newer or broken one may send
// anything): it must not panic, must not allocate without bound, and must
// never take a value of the wrong type for a number. The record is built
// from the fuzzer's input: fields are the lines of fields; value i is
// 9 bytes of values (a kind, then 8 bytes of number); strings are text.
// Seeds are in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add(int32(1), "state.state\ncpu.time\nballoon.current\nballoon.rss\nvcpu.current\nvcpu.1.time\nnet.0.name\nnet.0.rx.bytes\nblock.0.name\nblock.0.capacity\nperf.cmt\niothread.1.poll-max-ns\ndirtyrate.megabytes_per_second\nvm.remote_tlb_flush.sum\nvm.pages_4k.cur",
		values(0, 1, 3, 7301120000, 3, 32768, 3, 1000, 1, 2, 3, 5, 6, 0, 3, 1, 6, 0, 3, 33554432, 3, 1, 3, 32768, 2, 3, 3, 4711, 0, 8192), "tap0")
	f.Add(int32(2), "block.4095.rd.reqs\nnet.-1.rx.bytes\nvcpu.99999999999999999999.time\ncpu.time\ncpu.user\nballoon.maximum\niothread.x.poll-grow\n\nstate.state",
		values(3, 1, 3, 1, 3, 1, 4, math.Float64bits(-1.5), 6, 0, 4, math.Float64bits(math.Inf(1)), 3, 1, 3, 0, 5, 1), "text")
	f.Fuzz(func(t *testing.T, id int32, fields string, vals []byte, text string) {
		rec := libvirt.DomainStatsRecord{Dom: libvirt.Domain{Name: "fuzz", ID: id}}
		for i, field := range strings.Split(fields, "\n") {
			var v any = text
			if len(vals) >= 9*(i+1) {
				kind, n := vals[9*i], binary.LittleEndian.Uint64(vals[9*i+1:])
				switch kind % 7 {
				case 0:
					v = int32(n)
				case 1:
					v = uint32(n)
				case 2:
					v = int64(n)
				case 3:
					v = n
				case 4:
					v = math.Float64frombits(n)
				case 5:
					v = n != 0
				}
			}
			rec.Params = append(rec.Params, libvirt.TypedParam{Field: field, Value: libvirt.TypedParamValue{I: v}})
		}
		d := Decode(rec)
		if len(d.VCPUs) > maxIndex || len(d.Nets) > maxIndex || len(d.Blocks) > maxIndex || len(d.IOThreads) > maxIndex || len(d.KVM) > maxKVMStats {
			t.Fatalf("%d params made %d vCPUs, %d nets, %d blocks, %d iothreads, %d KVM statistics", len(rec.Params), len(d.VCPUs), len(d.Nets), len(d.Blocks), len(d.IOThreads), len(d.KVM))
		}
		for _, p := range rec.Params {
			switch p.Value.I.(type) {
			case string, bool:
				if got := libvirtval.Param(rec.Params, p.Field); got.OK && p.Field != "" && firstWith(rec.Params, p.Field) == p {
					t.Fatalf("%s of type %T read as the number %d", p.Field, p.Value.I, got.V)
				}
			}
		}
		d.partial()
	})
}

func firstWith(params []libvirt.TypedParam, field string) libvirt.TypedParam {
	for _, p := range params {
		if p.Field == field {
			return p
		}
	}
	return libvirt.TypedParam{}
}

// values encodes (kind, number) pairs the way FuzzDecode reads them.
func values(pairs ...uint64) []byte {
	var b []byte
	for i := 0; i+1 < len(pairs); i += 2 {
		b = append(b, byte(pairs[i]))
		b = binary.LittleEndian.AppendUint64(b, pairs[i+1])
	}
	return b
}
