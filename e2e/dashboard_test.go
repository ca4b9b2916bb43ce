package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vadvisor/vadvisor/collector"
	"github.com/vadvisor/vadvisor/internal/testbed"
)

type grafanaDashboard struct {
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

type grafanaPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	Targets    []struct {
		Expr       string `json:"expr"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}

func loadDashboard(t testing.TB) (grafanaDashboard, []grafanaPanel) {
	t.Helper()
	text := readFile(t, filepath.Join(testbed.Root(), "monitoring", "vadvisor-dashboard.json"))
	var d grafanaDashboard
	if err := json.Unmarshal(text, &d); err != nil {
		t.Fatalf("monitoring/vadvisor-dashboard.json: %v", err)
	}
	var panels []grafanaPanel
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			if p.Type != "row" {
				panels = append(panels, p)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return d, panels
}

var metricName = regexp.MustCompile(`\b(?:libvirt|vadvisor)_[a-z_]+\b`)

// knownMetrics is every metric family name vadvisor can export: those of a
// live scrape plus those the collector describes (for figures the test
// guests cannot produce).
func knownMetrics(t testing.TB, exposition string) map[string]bool {
	t.Helper()
	known := map[string]bool{}
	for _, line := range strings.Split(exposition, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			known[f[2]] = true
		}
	}
	descs := make(chan *prometheus.Desc)
	go func() {
		(*collector.Collector)(nil).WithContext(context.Background()).Describe(descs)
		close(descs)
	}()
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range descs {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			known[m[1]] = true
		}
	}
	return known
}

// The dashboard is checked the way a user would find it broken: Prometheus
// scrapes real guests, the alert rules load into it, and every panel query
// and variable of the dashboard runs against it and returns data. The
// domain shown is a guest with a real OS: only its balloon driver reports
// the guest memory figures some panels show.
func TestDashboardPanelsReturnData(t *testing.T) {
	guests := linuxGuests(t)
	dash, panels := loadDashboard(t)
	// With the guest agents, which a panel and a rule read.
	vadv := Start(t, "--collector.guest-agent", "--collector.guest-agent.interval=1s")
	waitAgentUp(t, vadv, "1", 30*time.Second, guests[0])
	dir := t.TempDir()
	rules, err := filepath.Abs(filepath.Join(testbed.Root(), "monitoring", "vadvisor-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	ps := startPrometheus(t, dir, fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: ['%s']
scrape_configs:
  - job_name: vadvisor
    static_configs:
      - targets: ['%s']
`, rules, vadv.Addr))

	_, exposition := vadv.Get(t, "/metrics")
	known := knownMetrics(t, exposition)

	// Lint: what Grafana needs to import and render the dashboard.
	ids := map[int]string{}
	for _, p := range panels {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			if target.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: a query uses data source %q, not the ${datasource} variable", p.Title, target.Datasource.UID)
			}
			for _, name := range metricName.FindAllString(target.Expr, -1) {
				if !known[name] {
					t.Errorf("panel %q uses %s, which vadvisor does not export", p.Title, name)
				}
			}
		}
	}
	vars := map[string]string{}
	for _, v := range dash.Templating.List {
		vars[v.Name] = v.Definition
	}
	for _, name := range []string{"datasource", "job", "instance", "domain"} {
		if _, ok := vars[name]; !ok {
			t.Errorf("the dashboard has no $%s variable", name)
		}
	}

	// Enough samples for rates over the dashboard's window.
	const rateWindow = "10s"
	ps.waitFor(t, `count_over_time(libvirt_domain_info_cpu_time_seconds_total{domain="`+guests[0]+`"}[`+rateWindow+`]) >= 4`, 30*time.Second, nonEmpty)

	values := map[string]string{
		"$job": "vadvisor", "$instance": ".*", "$domain": guests[0], "$__rate_interval": rateWindow,
	}
	// Variable queries: label_values(selector, label), as Grafana runs them.
	labelValuesQuery := regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)
	for _, name := range []string{"job", "instance", "domain"} {
		m := labelValuesQuery.FindStringSubmatch(vars[name])
		if m == nil {
			t.Errorf("$%s: %q is not a label_values(selector, label) query", name, vars[name])
			continue
		}
		var series []map[string]string
		ps.api(t, "/api/v1/series", url.Values{"match[]": {substitute(m[1], values)}}, &series)
		found := map[string]bool{}
		for _, s := range series {
			found[s[m[2]]] = true
		}
		want := map[string]string{"job": "vadvisor", "instance": vadv.Addr, "domain": guests[0]}[name]
		if !found[want] {
			t.Errorf("$%s (%s) offers %v, not %s", name, vars[name], found, want)
		}
	}

	// Every query, with the host selected by name as well as by "All".
	for _, instance := range []string{".*", vadv.Addr} {
		values["$instance"] = instance
		for _, p := range panels {
			for _, target := range p.Targets {
				expr := substitute(target.Expr, values)
				if strings.Contains(expr, "$") {
					t.Errorf("panel %q: unknown variable left in %s", p.Title, expr)
					continue
				}
				if len(ps.query(t, expr)) == 0 {
					t.Errorf("panel %q returns no data for $instance=%s: %s", p.Title, instance, expr)
				}
			}
		}
	}

	// The alert rules load and evaluate against real data without errors,
	// and use only metrics vadvisor exports.
	var groups struct {
		Groups []struct {
			Rules []struct {
				Name      string `json:"name"`
				Query     string `json:"query"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"rules"`
		} `json:"groups"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ps.api(t, "/api/v1/rules", url.Values{}, &groups)
		evaluated, total := 0, 0
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				total++
				if r.Health != "unknown" {
					evaluated++
				}
			}
		}
		if total > 0 && evaluated == total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s Prometheus has evaluated %d of %d rules", evaluated, total)
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Health != "ok" {
				t.Errorf("rule %s: health %s: %s", r.Name, r.Health, r.LastError)
			}
			for _, name := range metricName.FindAllString(r.Query, -1) {
				if !known[name] {
					t.Errorf("rule %s uses %s, which vadvisor does not export", r.Name, name)
				}
			}
		}
	}
}

// substitute replaces Grafana variables, longest name first.
func substitute(expr string, values map[string]string) string {
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
	for _, n := range names {
		expr = strings.ReplaceAll(expr, n, values[n])
	}
	return expr
}

// The rules file passes promtool, and its unit tests cover every alert
// with at least one case where it fires.
func TestDashboardAlertRulesPromtool(t *testing.T) {
	testbed.Require(t) // promtool
	dir := filepath.Join(testbed.Root(), "monitoring")
	for _, args := range [][]string{
		{"check", "rules", "vadvisor-rules.yml"},
		{"test", "rules", "vadvisor-rules.test.yml"},
	} {
		cmd := exec.Command("promtool", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	rules := readFile(t, filepath.Join(dir, "vadvisor-rules.yml"))
	tests := readFile(t, filepath.Join(dir, "vadvisor-rules.test.yml"))
	// A case fires when an "alertname:" line is followed by exp_alerts
	// with at least one "exp_labels" before the next case.
	firing := map[string]bool{}
	for _, c := range regexp.MustCompile(`(?m)^\s*alertname:\s*`).Split(string(tests), -1)[1:] {
		name := strings.Fields(c)[0]
		if strings.Contains(strings.SplitN(c, "eval_time:", 2)[0], "exp_labels:") {
			firing[name] = true
		}
	}
	alerts := regexp.MustCompile(`(?m)^\s*- alert:\s*(\S+)`).FindAllStringSubmatch(string(rules), -1)
	if len(alerts) < 6 {
		t.Fatalf("only %d alerts in vadvisor-rules.yml", len(alerts))
	}
	for _, a := range alerts {
		if !firing[a[1]] {
			t.Errorf("alert %s has no unit test in which it fires", a[1])
		}
	}
}
