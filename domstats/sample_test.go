package domstats_test

import (
	"context"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/internal/testbed"
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
	byName := func(rd *domstats.Reading, name string) *domstats.Domain {
		for i := range rd.Domains {
			if rd.Domains[i].Name == name {
				return &rd.Domains[i]
			}
		}
		t.Fatalf("%s is not in the reading", name)
		return nil
	}
	// The guests' counters can only have grown, by at most their vCPUs
	// times the wall time between the readings (and a margin).
	span := uint64(sample.Time.Sub(full.Time) + sample.Duration + full.Duration + 100*time.Millisecond)
	grown := func(name, what string, a, b domstats.Value, limit uint64) {
		t.Helper()
		if !a.OK || !b.OK || b.V < a.V || b.V-a.V > limit {
			t.Errorf("%s %s: full reading %+v, sample %+v (at most %d apart)", name, what, a, b, limit)
		}
	}
	for _, name := range names {
		f, s := byName(full, name), byName(sample, name)
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
