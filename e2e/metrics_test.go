package e2e

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// compareGolden diffs lines against a golden file (rewritten with -update).
func compareGolden(t *testing.T, file string, lines []string) {
	t.Helper()
	sort.Strings(lines)
	got := strings.Join(lines, "\n") + "\n"
	path := filepath.Join("testdata", file)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := readFile(t, path)
	if got != string(want) {
		t.Errorf("scrape differs from %s (run with -update to accept):\n%s", path, lineDiff(string(want), got))
	}
}

func lineDiff(want, got string) string {
	w, g := map[string]bool{}, map[string]bool{}
	for _, l := range strings.Split(want, "\n") {
		w[l] = true
	}
	for _, l := range strings.Split(got, "\n") {
		g[l] = true
	}
	var out []string
	for l := range w {
		if !g[l] {
			out = append(out, "- "+l)
		}
	}
	for l := range g {
		if !w[l] {
			out = append(out, "+ "+l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// The test driver's domains are fixed, so a scrape of them is exact.
func TestMetricsGoldenTestDriver(t *testing.T) {
	p := Start(t, "--libvirt.uri="+testbed.TestNode(t, "gold", 4))
	status, body := p.Get(t, "/metrics")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	lines := metricLines(body, "libvirt_domain", "libvirt_node", "libvirt_up", "libvirt_domains", "vadvisor_scrape_collector_success")
	compareGolden(t, "testdriver.prom", lines)
}

var (
	uuidLabel = regexp.MustCompile(`uuid="[0-9a-f-]{36}"`)
	// A guest's state reason is its history: booted, or unpaused after a
	// test paused it (a state reason test checks the value).
	reasonLabel = regexp.MustCompile(`,reason="[a-z_]+",state="running"`)
	macLabel    = regexp.MustCompile(`mac_address="[0-9a-f:]{17}"`)
	ourGuest    = regexp.MustCompile(`domain="vadv-e[0-9]+"`)
	sampleVal   = regexp.MustCompile(`\} \S+$`)
)

// Real guests: the series (names and labels) must stay what dashboards
// expect; values vary, so they are left out.
func TestMetricsGoldenGuestSeries(t *testing.T) {
	testbed.Guests(t, "vadv-e", 2)
	p := Start(t)
	_, body := p.Get(t, "/metrics")
	var lines []string
	for _, l := range metricLines(body, "libvirt_domain") {
		if ourGuest.MatchString(l) {
			// uuids and MACs are made anew when a guest is defined.
			l = uuidLabel.ReplaceAllString(l, `uuid="UUID"`)
			l = macLabel.ReplaceAllString(l, `mac_address="MAC"`)
			l = reasonLabel.ReplaceAllString(l, `,reason="REASON",state="running"`)
			lines = append(lines, sampleVal.ReplaceAllString(l, "}"))
		}
	}
	compareGolden(t, "guests.series", lines)
}

func TestMetricsPromtoolClean(t *testing.T) {
	testbed.Guests(t, "vadv-e", 2)
	p := Start(t, "--collector.job", "--collector.pool", "--collector.perf", "--collector.dirtyrate", "--collector.kvm")
	_, body := p.Get(t, "/metrics")
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	for _, want := range []string{`libvirt_up 1`, `vadvisor_scrape_collector_success{collector="job"} 1`,
		`vadvisor_scrape_collector_success{collector="pool"} 1`, `libvirt_domain_job_info_type{domain="vadv-e1"} 0`,
		`vadvisor_scrape_collector_success{collector="node"} 1`, `vadvisor_scrape_collector_success{collector="kvm"} 1`} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

// With libvirt unreachable /metrics still answers 200 with libvirt_up 0;
// once the socket is there, the exporter reconnects by itself.
func TestMetricsLibvirtDownThenBack(t *testing.T) {
	testbed.Guests(t, "vadv-e", 1)
	sock := filepath.Join(t.TempDir(), "libvirt-sock")
	p := Start(t, "--libvirt.uri=qemu:///system?socket="+sock)
	status, body := p.Get(t, "/metrics")
	if status != 200 || !strings.Contains(body, "\nlibvirt_up 0\n") {
		t.Fatalf("libvirt down: status %d, want 200 with libvirt_up 0:\n%s", status, strings.Join(metricLines(body, "libvirt_"), "\n"))
	}
	if strings.Contains(body, "libvirt_domain_info{") {
		t.Errorf("domain series exported while libvirt is unreachable")
	}
	if err := os.Symlink("/var/run/libvirt/libvirt-sock-ro", sock); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body = p.Get(t, "/metrics")
		if strings.Contains(body, "\nlibvirt_up 1\n") && strings.Contains(body, `libvirt_domain_info{domain="vadv-e1"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery within 10s of libvirt coming back:\n%s", strings.Join(metricLines(body, "libvirt_up"), "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestBadFlagsFailClearly(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--no-such-flag"}, "unknown long flag '--no-such-flag'"},
		{[]string{"--libvirt.uri=qemu+carrier-pigeon://host/system"}, "unsupported transport"},
		{[]string{"--libvirt.timeout=0s"}, "timeout must be positive"},
		{[]string{"--libvirt.timeout=soon"}, `--libvirt.timeout: "soon" is not a duration`},
		{[]string{"--events.heartbeat=0s"}, "heartbeat must be positive"},
		{[]string{"--events.stream-buffer=0"}, "stream buffer must be at least 1"},
		{[]string{"--history.interval=-1s"}, "history interval must be positive (or 0 to turn the history off)"},
		{[]string{"--libvirt.domain-include=web-(", "--collector.guest-agent"}, `--libvirt.domain-include: \"web-(\" is not a valid regular expression`},
		{[]string{"--libvirt.domain-exclude=[z-a]"}, `--libvirt.domain-exclude: \"[z-a]\" is not a valid regular expression`},
		{[]string{"--collector.guest-agent.interval=0s"}, "--collector.guest-agent.interval must be positive"},
		{[]string{"--collector.guest-agent", "--collector.guest-agent.timeout=-1s"}, "--collector.guest-agent.timeout must be positive"},
		{[]string{"--collector.guest-agent", "--collector.guest-agent.libvirt-uri=nodriver"}, `--collector.guest-agent.libvirt-uri: libvirt URI \"nodriver\" has no driver`},
		{[]string{"--libvirt.uri=::bad"}, "--libvirt.uri: libvirt URI"},
	} {
		out, err := exec.Command(binary, tc.args...).CombinedOutput()
		if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() == 0 {
			t.Errorf("%v: exit %v, want non-zero", tc.args, err)
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("%v: output lacks %q:\n%s", tc.args, tc.want, out)
		}
	}
	out, err := exec.Command(binary, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "vadvisor, version") {
		t.Errorf("--version: %v\n%s", err, out)
	}
}

func TestLandingAndProbes(t *testing.T) {
	p := Start(t, "--libvirt.uri="+testbed.TestNode(t, "land", 1))
	for path, want := range map[string]string{"/-/healthy": "Healthy", "/-/ready": "Ready"} {
		status, body := p.Get(t, path)
		if status != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d, body lacks %q", path, status, want)
		}
	}
	// The landing page links every endpoint, and each link answers.
	status, body := p.Get(t, "/")
	if status != 200 || strings.Contains(body, "debug/pprof") {
		t.Errorf("GET /: %d; it must not offer pprof links vadvisor does not serve", status)
	}
	if !strings.Contains(body, "a sample every 1s kept for 1h, compressed") {
		t.Error("the landing page does not say what the history keeps")
	}
	for _, link := range []string{"/metrics", "/api/v1.0/stats/", "/api/v1.0/host", "/api/v1.0/specs/", "/api/v1.0/events?all_events=true", "/ui/"} {
		if !strings.Contains(body, `href="`+link+`"`) {
			t.Errorf("the landing page does not link %s", link)
		}
		if status, _ := p.Get(t, link); status != 200 {
			t.Errorf("GET %s (linked from /): %d", link, status)
		}
	}
}

// With --history.interval=0 nothing is sampled: the history paths answer
// 409 with a JSON error that says so, ?live=true still answers, and the
// landing page, /api/v1.0/host and /metrics show the history is off.
func TestHistoryOff(t *testing.T) {
	p := Start(t, "--libvirt.uri="+testbed.TestNode(t, "hoff", 2), "--history.interval=0")
	for _, path := range []string{"/api/v1.0/stats/", "/api/v1.0/stats/00000000-0000-4000-8000-000000000000"} {
		status, body := p.Get(t, path)
		if status != 409 || !strings.Contains(body, `"error":"the history is off (--history.interval=0)`) {
			t.Errorf("GET %s: %d %s, want 409 with a JSON error saying the history is off", path, status, body)
		}
	}
	if status, body := p.Get(t, "/api/v1.0/stats/?live=true"); status != 200 || strings.Count(body, `"timestamp"`) != 2 {
		t.Errorf("GET ?live=true: %d %s, want a sample of each of the 2 domains", status, body)
	}
	if status, body := p.Get(t, "/api/v1.0/host"); status != 200 || !strings.Contains(body, `"history":null`) {
		t.Errorf("GET /api/v1.0/host: %d %s, want history null", status, body)
	}
	if _, body := p.Get(t, "/"); !strings.Contains(body, "The history is off") {
		t.Error("the landing page does not say the history is off")
	}
	if _, body := p.Get(t, "/metrics"); strings.Contains(body, "vadvisor_history_") || !strings.Contains(body, "libvirt_up 1") {
		t.Error("/metrics: history series with the history off, or libvirt_up not 1")
	}
}

// --web.disable-exporter-metrics leaves out the Go runtime's and the
// process' metrics, as node_exporter's flag does, and nothing else.
func TestDisableExporterMetrics(t *testing.T) {
	node := testbed.TestNode(t, "noexp", 1)
	for _, c := range []struct {
		args []string
		own  bool
	}{{nil, true}, {[]string{"--web.disable-exporter-metrics"}, false}} {
		p := Start(t, append([]string{"--libvirt.uri=" + node}, c.args...)...)
		status, body := p.Get(t, "/metrics")
		if status != 200 || !strings.Contains(body, "libvirt_up 1") || !strings.Contains(body, "vadvisor_build_info{") ||
			!strings.Contains(body, "libvirt_domain_info{") {
			t.Fatalf("vadvisor %v: /metrics %d lacks libvirt_up 1, vadvisor_build_info or the domain:\n%s", c.args, status, body)
		}
		for _, prefix := range []string{"\ngo_goroutines ", "\nprocess_resident_memory_bytes "} {
			if got := strings.Contains(body, prefix); got != c.own {
				t.Errorf("vadvisor %v: /metrics has %q: %v, want %v", c.args, strings.TrimSpace(prefix), got, c.own)
			}
		}
	}
}
