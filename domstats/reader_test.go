package domstats_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
	"github.com/vadvisor/vadvisor/internal/testbed"
)

// After a slow reading the next one is split into parallel bulk calls;
// against the test driver's 100 running domains it holds the same domains,
// each once and whole, as a reading made in one call.
func TestSplitReadingMatchesOneCall(t *testing.T) {
	conn := testbed.Conn(t, testbed.TestNode(t, "split", 100))
	groups := libvirt.DomainStatsState | libvirt.DomainStatsVCPU | libvirt.DomainStatsBlock | libvirt.DomainStatsInterface
	r := domstats.NewReader(conn, groups)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	one, err := r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r.SetLastDuration(time.Second)
	split, err := r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	list := make([]libvirt.Domain, len(one.Domains))
	for i, d := range one.Domains {
		list[i] = libvirt.Domain{Name: d.Name, UUID: d.UUID, ID: d.ID}
	}
	if n := len(domstats.Split(list)); n < 2 {
		t.Fatalf("%d running domains make %d chunk(s); the test needs a split", len(list), n)
	}

	// The test driver's counters move with the clock; the rest must match.
	shape := func(rd *domstats.Reading) []string {
		var out []string
		for _, d := range rd.Domains {
			line := fmt.Sprintf("%s %s state=%d vcpus=%d incomplete=%v", d.Name, libvirtval.UUIDString(d.UUID), d.State.V, len(d.VCPUs), d.Incomplete)
			for _, b := range d.Blocks {
				line += " " + b.Name
			}
			for _, n := range d.Nets {
				line += " " + n.Name
			}
			out = append(out, line)
		}
		slices.Sort(out)
		return out
	}
	a, b := shape(one), shape(split)
	if len(a) != 100 || !slices.Equal(a, b) {
		t.Errorf("one call: %d domains, split: %d; first difference:\n%s", len(a), len(b), firstDiff(a, b))
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i] + "\n" + b[i]
		}
	}
	return "(one is a prefix of the other)"
}
