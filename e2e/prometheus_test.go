package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

// promServer is a real Prometheus server (the Debian package) run for a test.
type promServer struct {
	addr string
	dir  string
}

// startPrometheus runs Prometheus with config (a prometheus.yml text;
// relative file paths in it resolve against dir) and flags added to its
// own, and waits until it is ready.
func startPrometheus(t testing.TB, dir, config string, flags ...string) *promServer {
	t.Helper()
	configFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	ps := &promServer{addr: testbed.FreeAddr(t), dir: dir}
	out := &testbed.SyncBuffer{}
	cmd := exec.Command("prometheus", append([]string{
		"--config.file=" + configFile,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + ps.addr,
		"--web.enable-lifecycle",
		"--log.level=warn"}, flags...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting prometheus (Debian package prometheus): %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus log:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get("http://" + ps.addr + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return ps
			}
		}
		select {
		case <-exited:
			t.Fatalf("prometheus exited:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 30s:\n%s", out.String())
		}
	}
}

// promSample is one element of an instant vector.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// api calls a Prometheus HTTP API path and decodes its data into v.
func (ps *promServer) api(t testing.TB, path string, params url.Values, v any) {
	t.Helper()
	resp, err := http.Get("http://" + ps.addr + path + "?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if body.Status != "success" {
		t.Fatalf("%s %v: %s", path, params, body.Error)
	}
	if err := json.Unmarshal(body.Data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// query runs an instant query; a result that is not a vector fails the test.
func (ps *promServer) query(t testing.TB, expr string) []promSample {
	t.Helper()
	var data struct {
		ResultType string       `json:"resultType"`
		Result     []promSample `json:"result"`
	}
	ps.api(t, "/api/v1/query", url.Values{"query": {expr}}, &data)
	if data.ResultType != "vector" {
		t.Fatalf("query %s gave a %s, want a vector", expr, data.ResultType)
	}
	return data.Result
}

// waitFor runs expr until ok accepts its result or timeout passes.
func (ps *promServer) waitFor(t testing.TB, expr string, timeout time.Duration, ok func([]promSample) bool) []promSample {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := ps.query(t, expr)
		if ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, %s still gives %v", timeout, expr, got)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func nonEmpty(s []promSample) bool { return len(s) > 0 }

// labelValues is the sorted label values of samples.
func labelValues(samples []promSample, label string) []string {
	var out []string
	for _, s := range samples {
		out = append(out, s.Metric[label])
	}
	sort.Strings(out)
	return out
}

// TestPrometheusScrapesOverTLSWithBasicAuth is the secured deployment of
// docs/operating.md end to end, with the shipped example web config and
// scrape config: Prometheus scrapes vadvisor over TLS with basic auth, and
// the guests' series arrive in Prometheus; a job with the wrong password
// gets nothing.
func TestPrometheusScrapesOverTLSWithBasicAuth(t *testing.T) {
	guests := testbed.Guests(t, secGuests, 2)
	p := newPKI(t)
	vadv := Start(t, "--web.config.file="+writeWebConfig(t, p.dir, exampleWebConfig(t, p, "web-config.yml")))
	passwordFile := filepath.Join(p.dir, "password")
	if err := os.WriteFile(passwordFile, []byte(examplePassword), 0o600); err != nil {
		t.Fatal(err)
	}
	scrape := example(t, "prometheus/prometheus-secured.yml",
		"/etc/prometheus/vadvisor-ca.crt", p.caFile,
		"/etc/prometheus/vadvisor-password", passwordFile,
		"hv1.example.com:8181", vadv.Addr)
	ps := startPrometheus(t, p.dir, fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
%s
  - job_name: vadvisor-wrong-password
    scheme: https
    tls_config:
      ca_file: %s
    basic_auth:
      username: prometheus
      password: not-the-password
    static_configs:
      - targets: ['%s']
`, scrape, p.caFile, vadv.Addr))

	ps.waitFor(t, `up{job="vadvisor"} == 1`, 20*time.Second, nonEmpty)
	got := ps.waitFor(t, `libvirt_domain_info{job="vadvisor", domain=~"`+secGuests+`.*"}`, 20*time.Second, func(s []promSample) bool {
		return len(s) >= len(guests)
	})
	for _, g := range guests {
		uuid := testbed.Virsh(t, "domuuid", g)
		found := false
		for _, s := range got {
			found = found || (s.Metric["domain"] == g && s.Metric["uuid"] == uuid)
		}
		if !found {
			t.Errorf("no libvirt_domain_info for %s with uuid %s in Prometheus: %v", g, uuid, got)
		}
	}
	for _, expr := range []string{
		`libvirt_up{job="vadvisor"} == 1`,
		`rate(libvirt_domain_info_cpu_time_seconds_total{job="vadvisor", domain="` + guests[0] + `"}[5s]) > 0`,
		`libvirt_domain_block_stats_capacity_bytes{job="vadvisor", domain="` + guests[0] + `"} > 0`,
	} {
		ps.waitFor(t, expr, 10*time.Second, nonEmpty)
	}

	wrong := ps.waitFor(t, `up{job="vadvisor-wrong-password"}`, 10*time.Second, nonEmpty)
	if v := wrong[0].Value[1]; v != "0" {
		t.Errorf("up of the job with the wrong password is %v, want 0", v)
	}
	if s := ps.query(t, `libvirt_domain_info{job="vadvisor-wrong-password"}`); len(s) > 0 {
		t.Errorf("the job with the wrong password got domain series: %v", s)
	}
}

// TestPrometheusFileSDFleet is the fleet set-up of docs/operating.md (Fleets): one
// exporter per hypervisor, listed in file_sd target files. A host added to
// a file is scraped without a Prometheus restart, with its labels, and the
// shipped example target file is valid file_sd.
func TestPrometheusFileSDFleet(t *testing.T) {
	guests := testbed.Guests(t, secGuests, 1)
	hv1 := Start(t)
	// A second "hypervisor": the test driver, with domains of its own.
	hv2 := Start(t, "--libvirt.uri="+testbed.TestNode(t, "vadv-sfleet", 3))

	dir := t.TempDir()
	targets := filepath.Join(dir, "targets")
	if err := os.Mkdir(targets, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTargets := func(name, addr, host string) {
		text := fmt.Sprintf("- targets: ['%s']\n  labels:\n    hypervisor: %s\n    rack: r1\n", addr, host)
		// Written aside and renamed, as a configuration tool should, so that
		// Prometheus never reads half a file.
		tmp := filepath.Join(dir, name)
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(targets, name)); err != nil {
			t.Fatal(err)
		}
	}
	writeTargets("hv1.yml", hv1.Addr, "hv1")
	example, err := filepath.Abs(filepath.Join(testbed.Root(), "examples", "prometheus", "file_sd", "vadvisor-targets.yml"))
	if err != nil {
		t.Fatal(err)
	}
	ps := startPrometheus(t, dir, fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: vadvisor
    file_sd_configs:
      - files: ['%s/*.yml']
        refresh_interval: 1s
  - job_name: vadvisor-example
    file_sd_configs:
      - files: ['%s']
`, targets, example))

	got := ps.waitFor(t, `libvirt_domain_info{job="vadvisor", domain="`+guests[0]+`"}`, 20*time.Second, nonEmpty)
	if got[0].Metric["hypervisor"] != "hv1" || got[0].Metric["rack"] != "r1" || got[0].Metric["instance"] != hv1.Addr {
		t.Errorf("target labels not attached: %v", got[0].Metric)
	}

	writeTargets("hv2.yml", hv2.Addr, "hv2")
	byHost := ps.waitFor(t, `sum by (hypervisor) (libvirt_domains{job="vadvisor"})`, 30*time.Second, func(s []promSample) bool {
		return len(s) == 2
	})
	if hosts := labelValues(byHost, "hypervisor"); fmt.Sprint(hosts) != "[hv1 hv2]" {
		t.Errorf("hypervisors in Prometheus: %v, want hv1 and hv2", hosts)
	}
	ps.waitFor(t, `libvirt_domain_info{job="vadvisor", hypervisor="hv2", domain="vadv-sfleet2"}`, 10*time.Second, nonEmpty)

	// The example file's hosts do not exist here, but Prometheus must have
	// discovered every one of them with its labels.
	var discovered struct {
		ActiveTargets []struct {
			Labels    map[string]string `json:"labels"`
			ScrapeURL string            `json:"scrapeUrl"`
		} `json:"activeTargets"`
	}
	deadline := time.Now().Add(10 * time.Second)
	var exampleTargets []string
	for len(exampleTargets) == 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		ps.api(t, "/api/v1/targets", url.Values{"state": {"active"}}, &discovered)
		for _, target := range discovered.ActiveTargets {
			if target.Labels["job"] == "vadvisor-example" {
				if target.Labels["datacenter"] == "" {
					t.Errorf("example target %s has no datacenter label", target.ScrapeURL)
				}
				exampleTargets = append(exampleTargets, target.Labels["instance"])
			}
		}
	}
	if len(exampleTargets) < 2 {
		t.Errorf("Prometheus found %d targets in %s, want at least 2", len(exampleTargets), example)
	}
	for _, target := range exampleTargets {
		if !strings.HasSuffix(target, ":8181") {
			t.Errorf("example target %s is not on vadvisor's port 8181", target)
		}
	}
}

// noPromtoolCheck lists example scrape configs promtool cannot check here.
var noPromtoolCheck = map[string]string{
	"prometheus-kubernetes.yml": "Debian's Prometheus is built without kubernetes_sd_configs",
}

// Every example scrape config under examples/prometheus passes promtool,
// with the rules file where prometheus.yml expects it.
func TestPrometheusExampleConfigsPassPromtool(t *testing.T) {
	testbed.Require(t) // promtool
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rules"), 0o755); err != nil {
		t.Fatal(err)
	}
	rules := readFile(t, filepath.Join(testbed.Root(), "monitoring", "vadvisor-rules.yml"))
	if err := os.WriteFile(filepath.Join(dir, "rules", "vadvisor-rules.yml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	configs, _ := filepath.Glob(filepath.Join(testbed.Root(), "examples", "prometheus", "*.yml"))
	if len(configs) < 4 {
		t.Fatalf("only %d example scrape configs", len(configs))
	}
	for _, config := range configs {
		name := filepath.Base(config)
		if _, skip := noPromtoolCheck[name]; skip {
			continue
		}
		text := readFile(t, config)
		if err := os.WriteFile(filepath.Join(dir, name), text, 0o644); err != nil {
			t.Fatal(err)
		}
		check := exec.Command("promtool", "check", "config", name)
		check.Dir = dir
		if out, err := check.CombinedOutput(); err != nil {
			t.Errorf("promtool check config examples/prometheus/%s: %v\n%s", name, err, out)
		}
	}
}
