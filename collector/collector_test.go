package collector

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/domxml"
	"github.com/vadvisor/vadvisor/internal/testbed"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

// series is one scrape, by metric name and then by "label=value,..." key.
type series map[string]map[string]float64

func scrapeOnce(t testing.TB, c *Collector) series {
	t.Helper()
	s, err := gather(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// gather is scrapeOnce for goroutines other than the test's own, which may
// not call t.Fatal: it returns the error instead.
func gather(c *Collector) (series, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c.WithContext(ctx))
	families, err := reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather: %w", err)
	}
	return seriesOf(families), nil
}

func seriesOf(families []*dto.MetricFamily) series {
	out := series{}
	for _, f := range families {
		m := map[string]float64{}
		for _, metric := range f.Metric {
			m[labelKey(metric.Label)] = value(metric)
		}
		out[f.GetName()] = m
	}
	return out
}

func labelKey(labels []*dto.LabelPair) string {
	parts := make([]string, len(labels))
	for i, l := range labels {
		parts[i] = l.GetName() + "=" + l.GetValue()
	}
	return strings.Join(parts, ",")
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	}
	return m.Untyped.GetValue()
}

// get returns the value of name for the series whose labels contain all of
// the given label=value pairs; ok is false if there is none.
func (s series) get(name string, labels ...string) (float64, bool) {
	for key, v := range s[name] {
		have := map[string]bool{}
		for _, kv := range strings.Split(key, ",") {
			have[kv] = true
		}
		all := true
		for _, want := range labels {
			all = all && have[want]
		}
		if all {
			return v, true
		}
	}
	return 0, false
}

func (s series) must(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	v, ok := s.get(name, labels...)
	if !ok {
		t.Fatalf("no series %s{%s}", name, strings.Join(labels, ","))
	}
	return v
}

// virshStats is `virsh domstats --raw` for one domain, field -> value.
func virshStats(t testing.TB, name string) map[string]string {
	t.Helper()
	out := testbed.Virsh(t, "domstats", "--raw", name)
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			m[k] = v
		}
	}
	return m
}

func num(t testing.TB, m map[string]string, field string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(m[field], 64)
	if err != nil {
		t.Fatalf("virsh field %s = %q: %v", field, m[field], err)
	}
	return v
}

func newCollector(t testing.TB, uri string, names ...string) *Collector {
	t.Helper()
	return newCollectorOn(t, testbed.Conn(t, uri), enableAll(names...), testbed.Logger(t))
}

// newCollectorOn is the collector of flags on conn, logging to logger.
func newCollectorOn(t testing.TB, conn *libvirtconn.Conn, flags *Flags, logger *slog.Logger) *Collector {
	t.Helper()
	c, err := New(conn, domstats.NewReader(conn, flags.StatsGroups()), domxml.New(conn), flags, logger)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestScrapeMatchesLibvirt(t *testing.T) {
	guests := testbed.Guests(t, "vadv-c", 3)
	// A write threshold on the first guest's disk (libvirt reports one
	// only while it is set).
	testbed.Virsh(t, "domblkthreshold", guests[0], "vda", "64M")
	t.Cleanup(func() { testbed.Virsh(t, "domblkthreshold", guests[0], "vda", "0") })
	before := map[string]map[string]string{}
	for _, g := range guests {
		before[g] = virshStats(t, g)
	}
	s := scrapeOnce(t, newCollector(t, "qemu:///system", "domain", "memory", "vcpu", "block", "interface"))
	for i, g := range guests {
		got, ok := s.get("libvirt_domain_block_stats_write_threshold_bytes", "domain="+g, "target_device=vda")
		if want := i == 0; ok != want || ok && got != 64<<20 {
			t.Errorf("%s vda write threshold %v (present: %v), want %d only on %s", g, got, ok, 64<<20, guests[0])
		}
	}

	if up := s.must(t, "libvirt_up"); up != 1 {
		t.Errorf("libvirt_up = %v, want 1", up)
	}
	for _, g := range guests {
		v := before[g]
		dom := "domain=" + g
		uuid := testbed.Virsh(t, "domuuid", g)
		if _, ok := s.get("libvirt_domain_info", dom, "uuid="+uuid, "os_type=hvm", "os_type_arch=x86_64"); !ok {
			t.Errorf("%s: no libvirt_domain_info with uuid %s", g, uuid)
		}
		if got := s.must(t, "libvirt_domain_info_state", dom, "state_desc=running"); got != 1 {
			t.Errorf("%s: state %v, want 1", g, got)
		}
		want := map[string]float64{
			"libvirt_domain_info_virtual_cpus":                  num(t, v, "vcpu.current"),
			"libvirt_domain_vcpu_maximum":                       num(t, v, "vcpu.maximum"),
			"libvirt_domain_info_maximum_memory_bytes":          num(t, v, "balloon.maximum") * 1024,
			"libvirt_domain_memory_stats_current_balloon_bytes": num(t, v, "balloon.current") * 1024,
			"libvirt_domain_block_stats_capacity_bytes":         num(t, v, "block.0.capacity"),
			"libvirt_domain_block_stats_physical_bytes":         num(t, v, "block.0.physical"),
		}
		for name, w := range want {
			if got := s.must(t, name, dom); got != w {
				t.Errorf("%s %s = %v, libvirt says %v", g, name, got, w)
			}
		}
		// Counters: present, and not behind what libvirt said just before.
		counters := map[string][]string{
			"libvirt_domain_info_cpu_time_seconds_total":          {"cpu.time", "1e-9"},
			"libvirt_domain_cpu_user_seconds_total":               {"cpu.user", "1e-9"},
			"libvirt_domain_vcpu_time_seconds_total":              {"vcpu.0.time", "1e-9", "vcpu=0"},
			"libvirt_domain_block_stats_read_bytes_total":         {"block.0.rd.bytes", "1", "target_device=vda"},
			"libvirt_domain_block_stats_read_requests_total":      {"block.0.rd.reqs", "1", "target_device=vda"},
			"libvirt_domain_interface_stats_receive_bytes_total":  {"net.0.rx.bytes", "1", "target_device=" + v["net.0.name"]},
			"libvirt_domain_interface_stats_transmit_bytes_total": {"net.0.tx.bytes", "1", "target_device=" + v["net.0.name"]},
		}
		for name, spec := range counters {
			scale, _ := strconv.ParseFloat(spec[1], 64)
			got := s.must(t, name, append([]string{dom}, spec[2:]...)...)
			if w := num(t, v, spec[0]) * scale; got < w*(1-1e-12) {
				t.Errorf("%s %s = %v, behind libvirt's earlier %v", g, name, got, w)
			}
		}
		if vcpus := int(num(t, v, "vcpu.current")); len(filter(s["libvirt_domain_vcpu_state"], dom)) != vcpus {
			t.Errorf("%s: %d vcpu_state series, want %d", g, len(filter(s["libvirt_domain_vcpu_state"], dom)), vcpus)
		}
		if got := s.must(t, "libvirt_domain_timed_out", dom); got != 0 {
			t.Errorf("%s: timed_out = %v", g, got)
		}
		if _, ok := s.get("libvirt_domain_interface_stats_info", dom, "target_device="+v["net.0.name"], "interface_type=ethernet", "model_type=virtio"); !ok {
			t.Errorf("%s: no interface info for %s", g, v["net.0.name"])
		}
		if _, ok := s.get("libvirt_domain_block_stats_info", dom, "target_device=vda", "target_bus=virtio", "driver_type=qcow2", "disk_type=file"); !ok {
			t.Errorf("%s: no block info for vda", g)
		}
	}
	for _, name := range []string{"domain", "memory", "vcpu", "block", "interface"} {
		if got := s.must(t, "vadvisor_scrape_collector_success", "collector="+name); got != 1 {
			t.Errorf("collector %s success = %v", name, got)
		}
	}
}

func filter(m map[string]float64, label string) []string {
	var out []string
	for k := range m {
		if strings.Contains(k+",", label+",") {
			out = append(out, k)
		}
	}
	return out
}

func TestShutOffDomainHasStateButNoLiveFigures(t *testing.T) {
	testbed.Guests(t, "vadv-c", 1) // libvirtd up
	const name = "vadv-c-off"
	_ = testbed.TryVirsh("destroy", name)
	_ = testbed.TryVirsh("undefine", name)
	defineXML(t, fmt.Sprintf(`<domain type='qemu'><name>%s</name><memory unit='MiB'>32</memory><vcpu>2</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>`, name))
	t.Cleanup(func() { _ = testbed.TryVirsh("undefine", name) })

	s := scrapeOnce(t, newCollector(t, "qemu:///system"))
	dom := "domain=" + name
	if got := s.must(t, "libvirt_domain_info_state", dom, "state_desc=shut off"); got != 5 {
		t.Errorf("state = %v, want 5 (shut off)", got)
	}
	s.must(t, "libvirt_domain_info", dom)
	for _, name := range []string{"libvirt_domain_info_cpu_time_seconds_total", "libvirt_domain_info_memory_usage_bytes",
		"libvirt_domain_vcpu_current", "libvirt_domain_timed_out", "libvirt_domain_memory_stats_current_balloon_bytes"} {
		if v, ok := s.get(name, dom); ok {
			t.Errorf("shut-off domain has %s = %v", name, v)
		}
	}
	listed := strings.Fields(testbed.Virsh(t, "list", "--all", "--name"))
	if got := s.must(t, "libvirt_domains"); int(got) != len(listed) {
		t.Errorf("libvirt_domains = %v, virsh lists %d", got, len(listed))
	}
}

func defineXML(t testing.TB, xml string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "domain.xml")
	if err := os.WriteFile(path, []byte(xml), 0o644); err != nil {
		t.Fatal(err)
	}
	testbed.Virsh(t, "define", path)
}

func TestTestDriverNode(t *testing.T) {
	const n = 200
	s := scrapeOnce(t, newCollector(t, testbed.TestNode(t, "tdom", n)))
	if got := s.must(t, "libvirt_domains"); got != n {
		t.Fatalf("libvirt_domains = %v, want %d", got, n)
	}
	if got := len(s["libvirt_domain_info_state"]); got != n {
		t.Errorf("%d state series, want %d", got, n)
	}
	// The test driver's bulk stats hold only state.*: nothing else may be
	// made up.
	for _, name := range []string{"libvirt_domain_info_cpu_time_seconds_total", "libvirt_domain_block_stats_read_bytes_total",
		"libvirt_domain_vcpu_time_seconds_total", "libvirt_domain_interface_stats_receive_bytes_total"} {
		if len(s[name]) != 0 {
			t.Errorf("test driver domains have %s, which libvirt did not return", name)
		}
	}
	uuid := fmt.Sprintf("%08x-0000-4000-8000-%012x", 7, 7)
	s.must(t, "libvirt_domain_info", "domain=tdom7", "uuid="+uuid, "os_type=hvm")
	s.must(t, "libvirt_domain_interface_stats_info", "domain=tdom7", "target_device=tst7", "source_bridge=br0")
}

func TestUnreachableLibvirt(t *testing.T) {
	conn := testbed.Running(t, "qemu:///system?socket=/nonexistent/sock", time.Second)
	s := scrapeOnce(t, newCollectorOn(t, conn, enableAll(), testbed.Logger(t)))
	if got := s.must(t, "libvirt_up"); got != 0 {
		t.Errorf("libvirt_up = %v, want 0", got)
	}
	if got := s.must(t, "vadvisor_scrape_collector_success", "collector=domain"); got != 0 {
		t.Errorf("domain collector success = %v, want 0", got)
	}
	if len(s["libvirt_domains"]) != 0 {
		t.Errorf("libvirt_domains exported while libvirt is unreachable")
	}
}

// Overlapping readers (our own scrapes, and another libvirt client holding
// domain jobs) must not make a scrape lose a guest's block or balloon stats.
func TestConcurrentReadersStayComplete(t *testing.T) {
	guests := testbed.Guests(t, "vadv-c", 3)
	c := newCollector(t, "qemu:///system", "domain", "memory", "block")
	stop := make(chan struct{})
	var other sync.WaitGroup
	other.Add(1)
	go func() { // another client reading all stats in a loop
		defer other.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_ = testbed.TryVirsh("domstats", "--block", "--balloon")
			}
		}
	}()
	// The workers only collect what went wrong (they may not call t.Fatal,
	// and must never block on reporting); the test goroutine reports it.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []string
	)
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, fmt.Sprintf(format, args...))
	}
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 15; i++ {
				s, err := gather(c)
				if err != nil {
					report("reader %d, scrape %d: %v", w, i, err)
					continue
				}
				for _, g := range guests {
					if _, ok := s.get("libvirt_domain_block_stats_capacity_bytes", "domain="+g); !ok {
						report("reader %d, scrape %d: %s: block capacity missing", w, i, g)
					}
					if _, ok := s.get("libvirt_domain_memory_stats_rss_bytes", "domain="+g); !ok {
						report("reader %d, scrape %d: %s: balloon rss missing", w, i, g)
					}
					if v, _ := s.get("libvirt_domain_timed_out", "domain="+g); v != 0 {
						report("reader %d, scrape %d: %s: timed out", w, i, g)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	other.Wait()
	for _, e := range errs {
		t.Error(e)
	}
}

// enableAll turns every sub-collector on (or, with names, just those).
func enableAll(names ...string) *Flags {
	f := Defaults()
	for _, c := range factories {
		on := len(names) == 0
		for _, n := range names {
			on = on || n == c.name
		}
		f.on[c.name] = &on
	}
	return f
}

// The versions are read in the background once a scrape asks for them,
// only while Run runs, and exported from then on.
func TestVersionsReadByRun(t *testing.T) {
	c := newCollector(t, testbed.TestNode(t, "tver", 1), "version")
	if _, ok := scrapeOnce(t, c)["libvirt_versions_info"]; ok {
		t.Fatal("versions exported before they were read")
	}
	time.Sleep(100 * time.Millisecond)
	if _, ok := scrapeOnce(t, c)["libvirt_versions_info"]; ok {
		t.Fatal("versions read without Run")
	}
	testbed.RunUntilCleanup(t, c.Run)
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := scrapeOnce(t, c)
		if _, ok := s.get("libvirt_versions_info", "hypervisor_type=TEST"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no libvirt_versions_info{hypervisor_type=TEST} 10s after Run started: %v", s["libvirt_versions_info"])
		}
		time.Sleep(50 * time.Millisecond)
	}
}
