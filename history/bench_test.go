package history

import (
	"syscall"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/internal/testbed"
)

// BenchmarkSampleEncodeDecode stores a running domain (two vCPUs,
// interfaces and disks) in a sample and reads it back.
func BenchmarkSampleEncodeDecode(b *testing.B) {
	v := func(x uint64) domstats.Value { return domstats.Value{V: x, OK: true} }
	d := domstats.Domain{Name: "vm", ID: 1, State: v(1), CPUTime: v(1e9), CPUUser: v(1e8), CPUSystem: v(1e7),
		Balloon: domstats.Balloon{Current: v(1 << 20), Maximum: v(1 << 21), RSS: v(1 << 19), SwapIn: v(0)}}
	for k := range 2 {
		d.VCPUs = append(d.VCPUs, domstats.VCPU{State: v(1), Time: v(5e9)})
		d.Nets = append(d.Nets, domstats.Net{Name: "tap" + string(rune('0'+k)), RxBytes: v(1500), RxPkts: v(1), TxBytes: v(900), TxPkts: v(1)})
		d.Blocks = append(d.Blocks, domstats.Block{Name: "vd" + string(rune('a'+k)), RdReqs: v(1), RdBytes: v(4096), Capacity: v(10 << 30)})
	}
	l := newLayout(&d)
	var s Sample
	var out domstats.Domain
	b.ReportAllocs()
	for b.Loop() {
		s.set(1, l, &d)
		s.Decode(&out)
	}
}

func (h *History) ticks() uint64 {
	h.statsMu.Lock()
	defer h.statsMu.Unlock()
	return h.stats.samples
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchSampler runs the sampler alone and reports the CPU time this
// process spends per tick, which at 1 Hz is the share of one core per
// second of wall time.
func benchSampler(b *testing.B, uri string) {
	conn := testbed.Conn(b, uri)
	const interval = 250 * time.Millisecond
	for b.Loop() {
		h := runHistory(b, conn, interval, time.Minute)
		time.Sleep(2 * interval) // warm up: connection, first rings
		startCPU, startTicks := cpuTime(), h.ticks()
		time.Sleep(20 * interval)
		cpu, ticks := cpuTime()-startCPU, h.ticks()-startTicks
		if ticks == 0 {
			b.Fatal("no samples taken")
		}
		perTick := cpu / time.Duration(ticks)
		b.ReportMetric(float64(perTick.Microseconds())/1000, "cpu-ms/tick")
		b.ReportMetric(perTick.Seconds()*100, "%core@1Hz")
		b.ReportMetric(float64(len(h.UUIDs())), "VMs")
		b.Logf("%s: %d VMs, %d ticks, %s CPU per tick = %.2f%% of one core at 1 Hz",
			uri, len(h.UUIDs()), ticks, perTick, perTick.Seconds()*100)
	}
}

// BenchmarkSampler1000TestDomains: 1000 test-driver domains (bulk stats of
// state only).
func BenchmarkSampler1000TestDomains(b *testing.B) {
	benchSampler(b, testbed.TestNode(b, "vadv-hbench", 1000))
}

// BenchmarkSamplerRealGuests: every guest running on this machine.
func BenchmarkSamplerRealGuests(b *testing.B) {
	testbed.Guests(b, guestPrefix, 2)
	benchSampler(b, testbed.SystemURI)
}

// BenchmarkMemoryPerSample: heap per VM-sample of 1000 VMs x 60 samples
// with two disks, two NICs and two vCPUs each.
func BenchmarkMemoryPerSample(b *testing.B) {
	for b.Loop() {
		per, h := heapPerSample(b)
		b.ReportMetric(per, "B/VM-sample")
		_ = h
	}
}
