package collector

import (
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

// The host's figures are libvirt's: virsh nodeinfo, freecell and
// freepages on the same host.
func TestNodeMatchesLibvirt(t *testing.T) {
	s := scrapeOnce(t, newCollector(t, "qemu:///system", "node"))
	if got := s.must(t, "vadvisor_scrape_collector_success", "collector=node"); got != 1 {
		t.Fatalf("node collector success = %v", got)
	}
	info := testbed.Virsh(t, "nodeinfo")
	if want := virshNumber(t, info, `CPU\(s\):\s+(\d+)`); s.must(t, "libvirt_node_cpus") != want {
		t.Errorf("libvirt_node_cpus = %v, virsh nodeinfo says %v", s.must(t, "libvirt_node_cpus"), want)
	}
	if want := virshNumber(t, info, `Memory size:\s+(\d+) KiB`) * 1024; s.must(t, "libvirt_node_memory_bytes") != want {
		t.Errorf("libvirt_node_memory_bytes = %v, virsh nodeinfo says %v", s.must(t, "libvirt_node_memory_bytes"), want)
	}
	// Free memory moves between the two readings: within 5%.
	free := virshNumber(t, testbed.Virsh(t, "freecell", "0"), `0:\s+(\d+) KiB`) * 1024
	if got := s.must(t, "libvirt_node_numa_free_memory_bytes", "numa_node=0"); got < free*0.95 || got > free*1.05 {
		t.Errorf("libvirt_node_numa_free_memory_bytes{numa_node=0} = %v, virsh freecell says %v", got, free)
	}
	// Every huge page size the host has, and not the base page.
	pages, _, _ := strings.Cut(testbed.Virsh(t, "freepages", "--all"), "\n\n") // node 0
	sizes := regexp.MustCompile(`(?m)^(\d+)KiB: (\d+)$`).FindAllStringSubmatch(pages, -1)
	if len(sizes) < 2 {
		t.Fatalf("virsh freepages lists no huge page size:\n%s", pages)
	}
	for i, m := range sizes {
		kib, _ := strconv.ParseFloat(m[1], 64)
		count, _ := strconv.ParseFloat(m[2], 64)
		size := "size_bytes=" + strconv.FormatFloat(kib*1024, 'f', -1, 64)
		got, ok := s.get("libvirt_node_hugepages_free", "numa_node=0", size)
		switch {
		case i == 0 && ok:
			t.Errorf("the base page (%s KiB) is exported as a huge page", m[1])
		case i > 0 && (!ok || got != count):
			t.Errorf("libvirt_node_hugepages_free{numa_node=0,%s} = %v (present %v), virsh freepages says %v", size, got, ok, count)
		}
	}
}

func virshNumber(t *testing.T, out, pattern string) float64 {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("virsh output lacks %s:\n%s", pattern, out)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// nodeOnly is a collector of the node sub-collector alone on uri,
// logging to the returned buffer.
func nodeOnly(t *testing.T, uri string) (*Collector, *testbed.SyncBuffer) {
	log := &testbed.SyncBuffer{}
	return newCollectorOn(t, testbed.Conn(t, uri), enableAll("node"), slog.New(slog.NewTextHandler(log, nil))), log
}

// Through libvirtd the test driver fails NodeGetFreePages on every call
// ("Library function returned error but did not set virError"): the
// collector leaves huge pages out, says so once per reading of the host's
// layout, not on every scrape, and keeps exporting the rest.
func TestNodeOnTestDriver(t *testing.T) {
	c, log := nodeOnly(t, "test+unix:///default")
	for range 3 {
		s := scrapeOnce(t, c)
		if got := s.must(t, "vadvisor_scrape_collector_success", "collector=node"); got != 1 {
			t.Fatalf("node collector success = %v; log:\n%s", got, log.String())
		}
		// test:///default's fixed host: 16 CPUs, 3 GiB, two NUMA cells.
		for name, want := range map[string]float64{"libvirt_node_cpus": 16, "libvirt_node_memory_bytes": 3 << 30} {
			if got := s.must(t, name); got != want {
				t.Errorf("%s = %v, want %v", name, got, want)
			}
		}
		for cell, want := range map[string]float64{"0": 2 << 20, "1": 4 << 20} {
			if got := s.must(t, "libvirt_node_numa_free_memory_bytes", "numa_node="+cell); got != want {
				t.Errorf("libvirt_node_numa_free_memory_bytes{numa_node=%s} = %v, want %v", cell, got, want)
			}
		}
		if len(s["libvirt_node_hugepages_free"]) != 0 {
			t.Errorf("huge pages exported though libvirt failed the call: %v", s["libvirt_node_hugepages_free"])
		}
	}
	// The host's layout is read again once it is old, and what libvirt
	// refused is asked again, once.
	node := c.enabled[0].subCollector.(*nodeCollector)
	node.mu.Lock()
	node.layout.cpus, node.read = 1, time.Now().Add(-nodeLayoutMaxAge)
	node.mu.Unlock()
	if got := scrapeOnce(t, c).must(t, "libvirt_node_cpus"); got != 16 {
		t.Errorf("libvirt_node_cpus = %v after the layout aged, want it read again: 16", got)
	}
	scrapeOnce(t, c)
	if n := strings.Count(log.String(), "NodeGetFreePages"); n != 2 {
		t.Errorf("the refused call is logged %d times in 5 scrapes, the layout read twice, want twice:\n%s", n, log.String())
	}
}

// A test driver node file lists no NUMA cell: there are CPUs and memory,
// and nothing per cell to ask about.
func TestNodeWithoutNUMACells(t *testing.T) {
	c, log := nodeOnly(t, testbed.TestNode(t, "tnode", 1))
	for range 2 {
		s := scrapeOnce(t, c)
		if got := s.must(t, "vadvisor_scrape_collector_success", "collector=node"); got != 1 {
			t.Fatalf("node collector success = %v; log:\n%s", got, log.String())
		}
		s.must(t, "libvirt_node_cpus")
		if len(s["libvirt_node_numa_free_memory_bytes"])+len(s["libvirt_node_hugepages_free"]) != 0 {
			t.Errorf("per-cell figures for a host with no cells: %v %v", s["libvirt_node_numa_free_memory_bytes"], s["libvirt_node_hugepages_free"])
		}
	}
	if log.String() != "" {
		t.Errorf("log lines for a host with no cells:\n%s", log.String())
	}
}
