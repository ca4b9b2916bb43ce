package domstats_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
	"github.com/vadvisor/vadvisor/internal/testbed"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

// A sample reading of real guests holds every figure a sample needs, CPU
// times and vCPUs included (from the per-domain calls), equal to those of a
// full reading made just before, or ahead of them by the time in between.
func TestSampleReadingMatchesFullReading(t *testing.T) {
	names := testbed.Guests(t, "vadv-d", 2)
	conn := testbed.Conn(t, testbed.SystemURI)
	r := domstats.NewReader(conn, domstats.SampleGroups)
	if r.BulkCPU() {
		t.Fatal("samples of a QEMU connection take the bulk CPU groups")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full, err := r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sample, err := r.ReadSample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sample == full || !sample.Time.After(full.Time) {
		t.Fatal("the sample reading is not a new reading")
	}
	// The guests' counters can only have grown, by at most their vCPUs
	// times the wall time between the readings (and a margin).
	span := uint64(sample.Time.Sub(full.Time) + sample.Duration + full.Duration + 100*time.Millisecond)
	grown := func(name, what string, a, b libvirtval.Value, limit uint64) {
		t.Helper()
		if !a.OK || !b.OK || b.V < a.V || b.V-a.V > limit {
			t.Errorf("%s %s: full reading %+v, sample %+v (at most %d apart)", name, what, a, b, limit)
		}
	}
	for _, name := range names {
		f, s := byName(t, full, name), byName(t, sample, name)
		if s.Incomplete || s.State != f.State || s.ID != f.ID {
			t.Errorf("%s: sample state %+v id %d incomplete %v, full reading %+v id %d", name, s.State, s.ID, s.Incomplete, f.State, f.ID)
		}
		n := uint64(len(f.VCPUs))
		grown(name, "cpu.time", f.CPUTime, s.CPUTime, n*span)
		grown(name, "cpu.user", f.CPUUser, s.CPUUser, n*span+uint64(20*time.Millisecond))
		grown(name, "cpu.system", f.CPUSystem, s.CPUSystem, n*span+uint64(20*time.Millisecond))
		if len(s.VCPUs) != len(f.VCPUs) || len(f.VCPUs) == 0 {
			t.Fatalf("%s: %d vCPUs in the sample, %d in the full reading", name, len(s.VCPUs), len(f.VCPUs))
		}
		for i := range f.VCPUs {
			if s.VCPUs[i].State != f.VCPUs[i].State {
				t.Errorf("%s vcpu %d: state %+v, full reading %+v", name, i, s.VCPUs[i].State, f.VCPUs[i].State)
			}
			grown(name, "vcpu time", f.VCPUs[i].Time, s.VCPUs[i].Time, span)
		}
		if s.Balloon.Current != f.Balloon.Current || s.Balloon.Maximum != f.Balloon.Maximum || !s.Balloon.RSS.OK {
			t.Errorf("%s: balloon %+v, full reading %+v", name, s.Balloon, f.Balloon)
		}
		if len(s.Nets) != len(f.Nets) || len(s.Blocks) != len(f.Blocks) || len(s.Blocks) == 0 {
			t.Fatalf("%s: %d nets, %d disks in the sample; %d, %d in the full reading", name, len(s.Nets), len(s.Blocks), len(f.Nets), len(f.Blocks))
		}
		for i := range f.Blocks {
			if s.Blocks[i].Name != f.Blocks[i].Name || !s.Blocks[i].RdReqs.OK || s.Blocks[i].Capacity != f.Blocks[i].Capacity {
				t.Errorf("%s disk %d: %+v, full reading %+v", name, i, s.Blocks[i], f.Blocks[i])
			}
		}
		// What a sample does not hold is not read for it.
		if s.VCPUCurrent.OK || s.VCPUs[0].Wait.OK || !f.VCPUCurrent.OK {
			t.Errorf("%s: vcpu.current %+v and vcpu wait %+v in the sample; vcpu.current %+v in the full reading", name, s.VCPUCurrent, s.VCPUs[0].Wait, f.VCPUCurrent)
		}
	}
}

// A test-driver connection takes the bulk groups for the samples' CPU
// figures; one that makes the per-domain calls and finds them missing
// (a driver without them) turns to the bulk groups alone. libvirtd is made to answer virDomainGetCPUStats as
// a driver without it does: the test driver lacks virDomainGetJobStats,
// and a proxy sends the one call as the other.
func TestSampleReadingWithoutPerDomainCalls(t *testing.T) {
	const procGetCPUStats, procGetJobStats = 262, 298
	proxy := testbed.NewProxy(t, "/var/run/libvirt/libvirt-sock")
	proxy.Rename(procGetCPUStats, procGetJobStats)
	conn := testbed.Conn(t, testbed.TestNode(t, "sample", 3)+"?socket="+proxy.Path)
	r := domstats.NewReader(conn, domstats.SampleGroups)
	if !r.BulkCPU() {
		t.Fatal("samples of a test-driver connection do not take the bulk groups")
	}
	r.UsePerDomainCPU() // as with QEMU's driver
	// The first reading finds the call missing, the second knows.
	for range 2 {
		rd, err := r.ReadSample(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		active := 0
		for _, d := range rd.Domains {
			if !d.Active() {
				continue
			}
			active++
			// The test driver's bulk call has no CPU figures to give; a
			// domain whose per-domain calls failed would be incomplete.
			if d.Incomplete || !d.State.OK {
				t.Errorf("%s: incomplete %v, state %+v: not read by the bulk call alone", d.Name, d.Incomplete, d.State)
			}
		}
		if active == 0 {
			t.Fatal("no running domain on the test node")
		}
	}
}

// A full reading asked for while a sample reading talks to libvirt joins
// it and adds the groups the sample left out: it is of the sample's
// moment, and holds every figure a full reading made alone holds (vCPU
// wait and delay, vcpu.current: the bulk vCPU group), while the sample,
// shared with its own callers, is left as it was.
func TestFullReadingJoinsSample(t *testing.T) {
	names := testbed.Guests(t, "vadv-d", 2)
	conn := testbed.Conn(t, testbed.SystemURI)
	r := domstats.NewReader(conn, domstats.SampleGroups)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alone, err := r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The sample may end before the full reading is asked for: try again.
	for try := 1; ; try++ {
		type result struct {
			rd  *domstats.Reading
			err error
		}
		sampled := make(chan result, 1)
		go func() {
			rd, err := r.ReadSample(ctx)
			sampled <- result{rd, err}
		}()
		var s result
	wait:
		for !r.Sampling() {
			select {
			case s = <-sampled: // over before it was seen
				break wait
			case <-time.After(time.Millisecond):
			}
		}
		full, err := r.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.rd == nil && s.err == nil {
			s = <-sampled
		}
		if s.err != nil {
			t.Fatal(s.err)
		}
		if !full.Time.Equal(s.rd.Time) {
			if try == 20 {
				t.Fatal("no full reading joined the sample reading in 20 tries")
			}
			continue
		}
		if full == s.rd {
			t.Fatal("the full reading is the sample itself")
		}
		for _, name := range names {
			a, f, smp := byName(t, alone, name), byName(t, full, name), byName(t, s.rd, name)
			if got, want := shapeOf(f), shapeOf(a); got != want || f.Incomplete {
				t.Errorf("%s: joined full reading (incomplete %v)\n%s\nfull reading alone\n%s", name, f.Incomplete, got, want)
			}
			if smp.VCPUCurrent.OK || len(smp.VCPUs) == 0 || smp.VCPUs[0].Wait.OK {
				t.Errorf("%s: the shared sample was changed: %+v", name, smp)
			}
		}
		return
	}
}

func byName(t *testing.T, rd *domstats.Reading, name string) *domstats.Domain {
	t.Helper()
	for i := range rd.Domains {
		if rd.Domains[i].Name == name {
			return &rd.Domains[i]
		}
	}
	t.Fatalf("%s is not in the reading", name)
	return nil
}

// shapeOf says which of a domain's figures libvirt gave.
func shapeOf(d *domstats.Domain) string {
	s := fmt.Sprintf("state %v cpu %v %v %v vcpus %v/%v balloon rss %v current %v",
		d.State.OK, d.CPUTime.OK, d.CPUUser.OK, d.CPUSystem.OK, d.VCPUCurrent.OK, d.VCPUMaximum.OK, d.Balloon.RSS.OK, d.Balloon.Current.OK)
	for i, v := range d.VCPUs {
		s += fmt.Sprintf("\n vcpu %d: state %v time %v wait %v delay %v", i, v.State.OK, v.Time.OK, v.Wait.OK, v.Delay.OK)
	}
	for _, b := range d.Blocks {
		s += fmt.Sprintf("\n disk %s: rd %v capacity %v", b.Name, b.RdReqs.OK, b.Capacity.OK)
	}
	for _, n := range d.Nets {
		s += fmt.Sprintf("\n net %s: rx %v", n.Name, n.RxBytes.OK)
	}
	return s
}

// A running domain whose per-domain CPU call fails for another reason than
// a stalled libvirtd gets its CPU times from the bulk group instead, in a
// full reading and in a sample, whole and not marked incomplete. Here
// libvirtd answers virDomainGetCPUStats with another call's error: a proxy
// sends it as virDomainCreate, which a running domain refuses.
func TestCPUFromBulkWhenPerDomainCallsFail(t *testing.T) {
	names := testbed.Guests(t, "vadv-d", 2)
	const procGetCPUStats, procDomainCreate = 262, 9
	proxy := testbed.NewProxy(t, "/var/run/libvirt/libvirt-sock")
	proxy.Rename(procGetCPUStats, procDomainCreate)
	conn := testbed.Conn(t, testbed.SystemURI+"?socket="+proxy.Path)
	only, err := libvirtconn.NewFilter("include", strings.Join(names, "|"), "exclude", "")
	if err != nil {
		t.Fatal(err)
	}
	conn.SetFilter(only) // only the test's guests, which run throughout
	r := domstats.NewReader(conn, domstats.SampleGroups)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for kind, read := range map[string]func(context.Context) (*domstats.Reading, error){"full": r.Read, "sample": r.ReadSample} {
		rd, err := read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			d := byName(t, rd, name)
			if d.Incomplete || !d.CPUTime.OK || !d.CPUUser.OK || !d.CPUSystem.OK || len(d.VCPUs) == 0 {
				t.Errorf("%s reading, %s: incomplete %v, cpu %+v %+v %+v, %d vCPUs", kind, name, d.Incomplete, d.CPUTime, d.CPUUser, d.CPUSystem, len(d.VCPUs))
			}
		}
	}
}
