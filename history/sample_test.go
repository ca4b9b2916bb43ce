package history

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
)

func v(x uint64) libvirtval.Value { return libvirtval.Value{V: x, OK: true} }

// fakeDomain has two vCPUs, two interfaces and two disks, its counters
// growing with n; a few values are left absent as libvirt may leave them.
func fakeDomain(id byte, n uint64) domstats.Domain {
	d := domstats.Domain{
		Name: fmt.Sprintf("vm%d", id), UUID: libvirt.UUID{id, 1}, ID: int32(id) + 1,
		State: v(1), CPUTime: v(1e9 + n), CPUUser: v(7e8 + n), CPUSystem: v(3e8),
		Balloon: domstats.Balloon{Current: v(32768), Maximum: v(65536), RSS: v(43000 + n)},
	}
	for i := range 2 {
		d.VCPUs = append(d.VCPUs, domstats.VCPU{State: v(uint64(i)), Time: v(n * uint64(i+1))})
		d.Nets = append(d.Nets, domstats.Net{
			Name:    fmt.Sprintf("tap%d", i),
			RxBytes: v(n), RxPkts: v(n / 2), RxErrs: v(0), RxDrop: v(1),
			TxBytes: v(n * 3), TxPkts: v(n / 3), TxErrs: v(2), TxDrop: v(3),
		})
		d.Blocks = append(d.Blocks, domstats.Block{
			Name:   fmt.Sprintf("vd%c", 'a'+i),
			RdReqs: v(n), RdBytes: v(n * 512), RdTimes: v(n * 1000),
			WrReqs: v(n + 1), WrBytes: v(n * 4096), WrTimes: v(n * 2000),
			FlReqs: v(4), FlTimes: v(5), Allocation: v(0), Capacity: v(33554432), Physical: v(204800),
		})
	}
	d.Blocks[1].Physical = libvirtval.Value{} // not returned
	return d
}

// kept is what a sample holds of a domain.
func kept(d domstats.Domain) domstats.Domain {
	out := domstats.Domain{
		Name: d.Name, UUID: d.UUID, State: d.State, CPUTime: d.CPUTime, CPUUser: d.CPUUser, CPUSystem: d.CPUSystem,
		Balloon: domstats.Balloon{Current: d.Balloon.Current, Maximum: d.Balloon.Maximum, RSS: d.Balloon.RSS,
			SwapIn: d.Balloon.SwapIn, SwapOut: d.Balloon.SwapOut, MajorFault: d.Balloon.MajorFault, MinorFault: d.Balloon.MinorFault,
			Unused: d.Balloon.Unused, Available: d.Balloon.Available, Usable: d.Balloon.Usable, DiskCaches: d.Balloon.DiskCaches},
		Nets: d.Nets,
	}
	for _, c := range d.VCPUs {
		out.VCPUs = append(out.VCPUs, domstats.VCPU{State: c.State, Time: c.Time})
	}
	for _, b := range d.Blocks {
		b.Path, b.Errors = "", libvirtval.Value{}
		out.Blocks = append(out.Blocks, b)
	}
	return out
}

func TestSampleRoundTrip(t *testing.T) {
	d := fakeDomain(3, 12345)
	d.Balloon.Usable = v(99)
	d.Balloon.HugetlbPgalloc = v(7) // not kept
	h := newTestHistory(t, time.Second, time.Minute)
	h.Record(reading(time.Unix(0, 42), d))
	samples, ok := samplesOf(h, d.UUID)
	if !ok || len(samples) != 1 {
		t.Fatalf("%d samples", len(samples))
	}
	got := samples[0].d
	if want := kept(d); !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", got, want)
	}
	if got.Blocks[1].Physical.OK || got.Balloon.SwapIn.OK {
		t.Fatal("an absent value came back as present")
	}
	if samples[0].t != time.Unix(0, 42).UTC() || got.Name != "vm3" {
		t.Fatalf("time %v name %q", samples[0].t, got.Name)
	}
}

// Every value comes back as it went in, whatever the run: steady and
// random steps, resets, extremes, absent values between present ones.
func TestColumnRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, steady := range []bool{false, true} {
		for run := range 200 {
			vals := make([]uint64, 1+rng.IntN(300))
			x := rng.Uint64() >> rng.IntN(64)
			for i := range vals {
				switch r := rng.IntN(20); {
				case r == 0:
					x = absent
				case r == 1:
					x = rng.Uint64() >> rng.IntN(64) // a reset, or a jump
				case r == 2:
					x = []uint64{0, 1, absent - 1, 1 << 63}[rng.IntN(4)]
				case x == absent:
					x = rng.Uint64N(1 << 40)
				case r == 3:
					x += 7 // off the thousands
				case steady: // whole thousands, as CPU times from cgroup v2
					x = x/1000*1000 + 1000*uint64(rng.IntN(50000))
				default:
					x += uint64(rng.IntN(3)) * uint64(rng.Int64N(1<<rng.IntN(40)))
					if x == absent {
						x = 0
					}
				}
				vals[i] = x
			}
			var w bitWriter
			var enc column
			for _, v := range vals {
				enc.put(&w, v)
			}
			r := bitReader{b: w.b}
			var dec column
			for i, want := range vals {
				got, err := dec.get(&r)
				if err != nil || got != want {
					t.Fatalf("steady %v run %d: value %d is %d (%v), want %d", steady, run, i, got, err, want)
				}
			}
			if _, err := dec.get(&r); err == nil && r.pos < uint(len(w.b))*8-7 {
				t.Fatalf("steady %v run %d: more values than were written", steady, run)
			}
		}
	}
}

func newTestHistory(t testing.TB, interval, retention time.Duration) *History {
	h, err := New(domstats.NewReader(nil, domstats.SampleGroups), interval, retention, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func reading(at time.Time, doms ...domstats.Domain) *domstats.Reading {
	return &domstats.Reading{Time: at, Domains: doms}
}

func TestNewValidates(t *testing.T) {
	reader := domstats.NewReader(nil, domstats.SampleGroups)
	for _, c := range []struct{ interval, retention time.Duration }{{0, time.Minute}, {-time.Second, time.Minute}, {time.Second, time.Second / 2}} {
		if _, err := New(reader, c.interval, c.retention, nil); err == nil {
			t.Errorf("interval %s retention %s accepted", c.interval, c.retention)
		}
	}
}

func TestRetentionKeepsNewestOldestFirst(t *testing.T) {
	h := newTestHistory(t, time.Second, 3*time.Second)
	t0 := time.Unix(1000, 0)
	for i := range 5 {
		h.Record(reading(t0.Add(time.Duration(i)*time.Second), fakeDomain(1, uint64(i))))
	}
	samples, ok := samplesOf(h, libvirt.UUID{1, 1})
	if !ok || len(samples) != 3 {
		t.Fatalf("got %d samples, want the 3 of the retention", len(samples))
	}
	for i, s := range samples {
		if want := t0.Add(time.Duration(i+2) * time.Second); !s.t.Equal(want) {
			t.Errorf("sample %d at %v, want %v", i, s.t, want)
		}
	}
}

func TestRecordSkipsInactiveAndDropsAgedOut(t *testing.T) {
	h := newTestHistory(t, time.Second, 3*time.Second)
	t0 := time.Unix(1000, 0)
	off := fakeDomain(9, 0)
	off.ID = -1
	a, b := fakeDomain(1, 0), fakeDomain(2, 0)
	h.Record(reading(t0, a, b, off))
	if got := len(h.UUIDs()); got != 2 {
		t.Fatalf("%d VMs tracked, want 2 (the inactive one skipped)", got)
	}
	// b stops: its sample stays until it is older than the retention.
	for i := 1; i <= 3; i++ {
		h.Record(reading(t0.Add(time.Duration(i)*time.Second), a))
		if _, ok := samplesOf(h, b.UUID); ok != (i < 3) {
			t.Fatalf("after %ds stopped VM tracked = %v", i, ok)
		}
	}
	// A reading that is not newer than the last is not recorded twice.
	h.Record(reading(t0.Add(3*time.Second), a))
	if s, _ := samplesOf(h, a.UUID); len(s) != 3 {
		t.Fatalf("%d samples after a repeated reading, want 3", len(s))
	}
}

func TestLayoutChangeKeepsOlderSamples(t *testing.T) {
	h := newTestHistory(t, time.Second, time.Minute)
	t0 := time.Unix(1000, 0)
	d := fakeDomain(1, 1)
	h.Record(reading(t0, d))
	d.Blocks = d.Blocks[:1] // a disk unplugged
	d.Name = "renamed"
	h.Record(reading(t0.Add(time.Second), d))
	samples, _ := samplesOf(h, d.UUID)
	var old, cur domstats.Domain
	old = samples[0].d
	cur = samples[1].d
	if len(old.Blocks) != 2 || old.Name != "vm1" || len(cur.Blocks) != 1 || cur.Name != "renamed" {
		t.Fatalf("old sample %s with %d disks, new %s with %d", old.Name, len(old.Blocks), cur.Name, len(cur.Blocks))
	}
}

// A Range walks the samples there were when it began: the sampler goes
// on meanwhile without changing what the walk sees.
func TestRangeSeesASnapshot(t *testing.T) {
	h := newTestHistory(t, time.Second, time.Minute)
	t0 := time.Unix(1000, 0)
	h.Record(reading(t0, fakeDomain(1, 5)))
	n := 0
	h.Range(libvirt.UUID{1, 1}, Query{}, func(at time.Time, d *domstats.Domain) bool {
		n++
		h.Record(reading(t0.Add(time.Duration(n)*time.Second), fakeDomain(1, 777)))
		if d.CPUTime.V != 1e9+5 || !at.Equal(t0) {
			t.Errorf("sample %d changed under the reader: cpu %d at %v", n, d.CPUTime.V, at)
		}
		return true
	})
	if n != 1 {
		t.Fatalf("the walk saw %d samples, want the 1 there was when it began", n)
	}
}

const memVMs, memSamples = 1000, 600

// fillHistory records memSamples readings of memVMs fake domains.
func fillHistory(t testing.TB) *History {
	h := newTestHistory(t, time.Second, memSamples*time.Second)
	doms := make([]domstats.Domain, memVMs)
	t0 := time.Unix(1000, 0)
	for s := range memSamples {
		for i := range doms {
			doms[i] = fakeDomain(0, uint64(s))
			doms[i].UUID = libvirt.UUID{byte(i), byte(i >> 8), 7}
			doms[i].Name = fmt.Sprintf("vm%d", i)
		}
		h.Record(reading(t0.Add(time.Duration(s)*time.Second), doms...))
	}
	return h
}

// heapPerSample measures the heap the rings of a full history hold.
func heapPerSample(t testing.TB) (perSample float64, h *History) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	h = fillHistory(t)
	runtime.GC()
	runtime.ReadMemStats(&after)
	return float64(after.HeapAlloc-before.HeapAlloc) / (memVMs * memSamples), h
}

func TestMemoryPerSample(t *testing.T) {
	per, h := heapPerSample(t)
	t.Logf("heap per VM-sample (2 disks, 2 NICs, 2 vCPUs): %.0f bytes", per)
	if per > 46 {
		t.Errorf("heap per VM-sample %.0f bytes, want at most 46", per)
	}
	if got := len(h.UUIDs()); got != memVMs {
		t.Fatalf("%d VMs tracked, want %d", got, memVMs)
	}
	reported := metric(t, h, "vadvisor_history_bytes") / (memVMs * memSamples)
	if reported < per*0.8 || reported > per*1.2 {
		t.Errorf("vadvisor_history_bytes says %.0f bytes per sample, the heap grew by %.0f", reported, per)
	}
}

// Range selects by time and, with a step, keeps the last sample of each
// step window of Unix time; fn stopping ends the walk.
func TestRangeStep(t *testing.T) {
	h := newTestHistory(t, time.Second, time.Minute)
	for i := 1; i <= 10; i++ {
		h.Record(reading(time.Unix(int64(i), 0), fakeDomain(1, uint64(i))))
	}
	id := libvirt.UUID{1, 1}
	sec := func(s int64) time.Time { return time.Unix(s, 0) }
	for _, c := range []struct {
		q    Query
		stop int
		want string
	}{
		{Query{}, 0, "1 2 3 4 5 6 7 8 9 10"},
		{Query{From: sec(4), To: sec(8)}, 0, "4 5 6 7 8"},
		{Query{Step: 3 * time.Second}, 0, "3 6 9 10"},
		{Query{From: sec(4), To: sec(8), Step: 3 * time.Second}, 0, "6 8"},
		{Query{Step: time.Second}, 0, "1 2 3 4 5 6 7 8 9 10"},
		{Query{From: sec(11)}, 0, ""},
		{Query{}, 2, "1 2"},
	} {
		var got []string
		ok := h.Range(id, c.q, func(ts time.Time, d *domstats.Domain) bool {
			if d.CPUTime.V != 1e9+uint64(ts.Unix()) || d.Name != "vm1" {
				t.Errorf("%v: the sample at %v holds another's figures", c.q, ts)
			}
			got = append(got, fmt.Sprint(ts.Unix()))
			return c.stop == 0 || len(got) < c.stop
		})
		if !ok || strings.Join(got, " ") != c.want {
			t.Errorf("Range(%+v): %v %q, want %q", c.q, ok, strings.Join(got, " "), c.want)
		}
	}
	if h.Range(libvirt.UUID{2}, Query{}, func(time.Time, *domstats.Domain) bool { return true }) {
		t.Error("Range of a VM without samples reports some")
	}
}

// sampleCopy is a sample as Range gives it, copied.
type sampleCopy struct {
	t time.Time
	d domstats.Domain
}

// samplesOf copies out every sample of the VM, and reports whether it has
// any.
func samplesOf(h *History, id libvirt.UUID) ([]sampleCopy, bool) {
	var out []sampleCopy
	ok := h.Range(id, Query{}, func(t time.Time, d *domstats.Domain) bool {
		c := *d
		c.VCPUs, c.Nets, c.Blocks = slices.Clone(d.VCPUs), slices.Clone(d.Nets), slices.Clone(d.Blocks)
		out = append(out, sampleCopy{t, c})
		return true
	})
	return out, ok
}
