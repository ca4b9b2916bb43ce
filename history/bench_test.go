package history

import (
	"syscall"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

// BenchmarkChunkEncodeDecode stores a chunk's worth of samples of a
// running domain (two vCPUs, interfaces and disks) and reads them back.
func BenchmarkChunkEncodeDecode(b *testing.B) {
	d := fakeDomain(1, 0)
	var ticks, vals []uint64
	b.ReportAllocs()
	for b.Loop() {
		hd := newHead(newLayout(&d))
		for i := range uint64(chunkSamples) {
			d.CPUTime.V += 12345678 + i%7*1000
			hd.push(i, &d)
		}
		var err error
		if ticks, vals, err = hd.seal().decode(ticks, vals); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*chunkSamples), "ns/sample")
}

func (h *History) recorded() uint64 {
	h.statsMu.Lock()
	defer h.statsMu.Unlock()
	return h.stats.samples
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
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
		startCPU, startTicks := cpuTime(), h.recorded()
		time.Sleep(20 * interval)
		cpu, ticks := cpuTime()-startCPU, h.recorded()-startTicks
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

// BenchmarkChunkDecode reads back a chunk of a running domain's samples
// (two vCPUs, interfaces and disks): what a Range costs per chunk.
func BenchmarkChunkDecode(b *testing.B) {
	d := fakeDomain(1, 0)
	hd := newHead(newLayout(&d))
	for i := range uint64(chunkSamples) {
		d.CPUTime.V += 12345678 + i%7*1000
		d.Nets[0].RxBytes.V += i * 1500
		hd.push(i, &d)
	}
	c := hd.seal()
	var ticks, vals []uint64
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if ticks, vals, err = c.decode(ticks, vals); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*chunkSamples), "ns/sample")
}
