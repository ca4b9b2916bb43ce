package history

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
	"github.com/vadvisor/vadvisor/internal/testbed"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

const guestPrefix = "vadv-h"

func guestUUID(t *testing.T, name string) libvirt.UUID {
	t.Helper()
	id, err := libvirtval.ParseUUID(testbed.Virsh(t, "domuuid", name))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func runHistory(t testing.TB, conn *libvirtconn.Conn, interval, retention time.Duration) *History {
	t.Helper()
	h, err := New(domstats.NewReader(conn, domstats.SampleGroups), interval, retention, testbed.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	testbed.RunUntilCleanup(t, h.Run)
	return h
}

// metric is the value h exports for the series called name (one without
// labels), as testutil formats it after the pedantic registry's checks.
func metric(t *testing.T, h *History, name string) float64 {
	t.Helper()
	text, err := testutil.CollectAndFormat(h, expfmt.TypeTextPlain, name)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(text)) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no series %s in:\n%s", name, text)
	return 0
}

func TestGuestsHistory(t *testing.T) {
	names := testbed.Guests(t, guestPrefix, 2)
	conn := testbed.Conn(t, testbed.SystemURI)
	interval := testbed.SampleInterval(t, conn, domstats.SampleGroups)
	start := time.Now()
	h := runHistory(t, conn, interval, 20*interval)
	// 23 ticks, taken or missed: a loaded host misses some, and each
	// missed one must be counted.
	ticks := func() float64 {
		return metric(t, h, "vadvisor_history_samples_total") + metric(t, h, "vadvisor_history_missed_ticks_total")
	}
	for deadline := time.Now().Add(100 * interval); ticks() < 23; time.Sleep(interval / 4) {
		if time.Now().After(deadline) {
			t.Fatalf("%v ticks after %s", ticks(), 100*interval)
		}
	}
	total := ticks()
	elapsed := time.Since(start)
	missed := metric(t, h, "vadvisor_history_missed_ticks_total")

	for _, name := range names {
		samples, ok := samplesOf(h, guestUUID(t, name))
		if !ok {
			t.Fatalf("%s: no history", name)
		}
		// The retention is 20 intervals: 21 samples when the newest
		// reading came a little later on its tick than the oldest.
		if len(samples) < 2 || len(samples) > 21 {
			t.Errorf("%s: %d samples, want 2 to the 21 that 20 intervals hold", name, len(samples))
		}
		skipped := 0 // grid slots between samples
		first := samples[0].t
		var offGrid []time.Duration
		var prev domstats.Domain
		for i := range samples {
			d := samples[i].d
			at := samples[i].t
			// On the grid: no drift however long each reading takes. A
			// busy host delays some readings; a drift would move them all.
			off := at.Sub(first) % interval
			offGrid = append(offGrid, min(off, interval-off))
			if i > 0 {
				gap := at.Sub(samples[i-1].t)
				if gap < interval*6/10 {
					t.Errorf("%s: samples %d and %d are %s apart, closer than a tick", name, i-1, i, gap)
				}
				skipped += int((gap+interval/2)/interval) - 1
				if d.CPUTime.V < prev.CPUTime.V || d.VCPUs[0].Time.V < prev.VCPUs[0].Time.V ||
					d.Nets[0].RxBytes.V < prev.Nets[0].RxBytes.V || d.Blocks[0].RdReqs.V < prev.Blocks[0].RdReqs.V {
					t.Errorf("%s: a counter decreased from sample %d to %d", name, i-1, i)
				}
			}
			prev = d
		}
		if float64(skipped) > missed {
			t.Errorf("%s: %d ticks skipped between samples, but %v missed ticks counted", name, skipped, missed)
		}
		slices.Sort(offGrid)
		if median := offGrid[len(offGrid)/2]; median > 40*time.Millisecond {
			t.Errorf("%s: the samples are a median %s off the %s grid: %v", name, median, interval, offGrid)
		}

		d := prev
		if d.Name != name || d.State.V != uint64(libvirt.DomainRunning) {
			t.Errorf("%s: name %q state %v", name, d.Name, d.State)
		}
		if len(d.Blocks) != 1 || d.Blocks[0].Name != "vda" || d.Blocks[0].Capacity != (libvirtval.Value{V: 33554432, OK: true}) {
			t.Errorf("%s: disks %+v, want vda of 32 MiB", name, d.Blocks)
		}
		tap := strings.Fields(strings.Split(testbed.Virsh(t, "domiflist", name), "\n")[2])[0]
		if len(d.Nets) != 1 || d.Nets[0].Name != tap || !d.Nets[0].RxBytes.OK {
			t.Errorf("%s: interfaces %+v, want %s", name, d.Nets, tap)
		}
		if d.Balloon.Current != (libvirtval.Value{V: 32768, OK: true}) || !d.Balloon.RSS.OK {
			t.Errorf("%s: balloon %+v, want 32768 KiB current with rss", name, d.Balloon)
		}
		vcpus, _ := strconv.Atoi(testbed.Virsh(t, "vcpucount", name, "--current", "--live"))
		if len(d.VCPUs) != vcpus || !d.VCPUs[0].Time.OK {
			t.Errorf("%s: %d vCPUs, virsh says %d", name, len(d.VCPUs), vcpus)
		}
	}
	if got := metric(t, h, "vadvisor_history_sample_failures_total"); got != 0 {
		t.Errorf("%v failed samples", got)
	}
	if grid := float64(elapsed/interval) + 1; total > grid {
		t.Errorf("%v ticks taken or missed in %s, more than the %v grid ticks", total, elapsed, grid)
	}
	if got := metric(t, h, "vadvisor_history_vms"); got < float64(len(names)) {
		t.Errorf("%v VMs tracked, want at least %d", got, len(names))
	}
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPausesWhileLibvirtIsUnreachable(t *testing.T) {
	names := testbed.Guests(t, guestPrefix, 1)
	id := guestUUID(t, names[0])
	p := testbed.NewProxy(t, "/var/run/libvirt/libvirt-sock")
	conn := testbed.Conn(t, "qemu+unix:///system?socket="+p.Path)
	h := runHistory(t, conn, 100*time.Millisecond, time.Minute)
	count := func() int { s, _ := samplesOf(h, id); return len(s) }
	waitFor(t, "3 samples", 30*time.Second, func() bool { return count() >= 3 })

	p.Down()
	waitFor(t, "the connection to drop", 5*time.Second, func() bool { return !conn.Connected() })
	before := count()
	// A tick waits a moment for a redial before it counts as failed.
	waitFor(t, "a failed sample to be counted", 5*time.Second, func() bool {
		return metric(t, h, "vadvisor_history_sample_failures_total") > 0
	})
	time.Sleep(500 * time.Millisecond)
	if got := count(); got != before {
		t.Fatalf("%d samples during the outage, %d before it: sampling did not pause", got, before)
	}
	samples, ok := samplesOf(h, id)
	if !ok || len(samples) != before {
		t.Fatal("the history was not served during the outage")
	}
	outageEnd := time.Now()

	p.Up()
	waitFor(t, "sampling to resume", 15*time.Second, func() bool {
		s, _ := samplesOf(h, id)
		return len(s) > before && s[len(s)-1].t.After(outageEnd)
	})
	if s, _ := samplesOf(h, id); !s[0].t.Equal(samples[0].t) {
		t.Error("the history from before the outage was lost")
	}
}

// Real readings come back from the history exactly as libvirt gave them:
// every field a sample keeps, of every domain that runs, over more than
// a chunk.
func TestRealReadingsRoundTrip(t *testing.T) {
	testbed.Guests(t, guestPrefix, 2)
	conn := testbed.Conn(t, testbed.SystemURI)
	reader := domstats.NewReader(conn, domstats.SampleGroups)
	h := newTestHistory(t, time.Millisecond, time.Hour)
	want := map[libvirt.UUID][]sampleCopy{}
	for range chunkSamples + 10 {
		r, err := reader.ReadSample(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		h.Record(r)
		for _, d := range r.Domains {
			if d.Active() {
				want[d.UUID] = append(want[d.UUID], sampleCopy{r.Time.UTC(), kept(d)})
			}
		}
	}
	moving := 0
	for id, w := range want {
		got, _ := samplesOf(h, id)
		if len(got) != len(w) {
			t.Errorf("%s: %d samples back, %d recorded", w[0].d.Name, len(got), len(w))
			continue
		}
		for i := range w {
			if !reflect.DeepEqual(got[i], w[i]) {
				t.Fatalf("%s: sample %d back as\n%+v\nrecorded\n%+v", w[0].d.Name, i, got[i], w[i])
			}
		}
		if w[0].d.CPUTime != w[len(w)-1].d.CPUTime {
			moving++
		}
	}
	if len(want) < 2 || moving < 2 {
		t.Fatalf("%d domains recorded, %d with moving CPU times: too few to tell", len(want), moving)
	}
}
