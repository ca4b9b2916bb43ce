package e2e

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vadvisor/vadvisor/collector"
	"github.com/vadvisor/vadvisor/internal/testbed"
)

// documentedFamily is a row of docs/metrics.md.
type documentedFamily struct {
	typ, help string
	labels    []string
}

// familyRow is a row of docs/metrics.md's family tables: name, type,
// labels, unit, from libvirt, meaning (cells escape | < >).
var familyRow = regexp.MustCompile("^\\| `(\\w+)` \\| (\\w+) \\| ([^|]*) \\| [^|]* \\| [^|]* \\| ((?:[^|\\\\]|\\\\.)*) \\|$")

func documentedFamilies(t *testing.T) (map[string]documentedFamily, string) {
	t.Helper()
	page := string(readFile(t, filepath.Join(testbed.Root(), "docs", "metrics.md")))
	unescape := strings.NewReplacer(`\|`, `|`, `\<`, `<`, `\>`, `>`)
	out := map[string]documentedFamily{}
	for _, line := range strings.Split(page, "\n") {
		m := familyRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		f := documentedFamily{typ: m[2], help: unescape.Replace(m[4])}
		if m[3] != "–" {
			f.labels = strings.Split(m[3], ", ")
		}
		out[m[1]] = f
	}
	if len(out) < 50 {
		t.Fatalf("docs/metrics.md has %d family rows: the page or its parsing changed", len(out))
	}
	return out, page
}

// Every family a scrape with every collector on returns is on
// docs/metrics.md, with the type, labels and help the page gives it: the
// page is generated from the declarations (TestDocsMatchCode), and this
// holds it to what the exporter serves. Families only some guests have
// (KVM's, perf events, IOThreads) cannot be required, but those returned
// are checked; the guests with an OS add the guest agents' and the guest
// memory figures.
func TestScrapedFamiliesDocumented(t *testing.T) {
	testbed.Guests(t, "vadv-e", 2)
	osNames := linuxGuests(t)
	args := []string{"--collector.guest-agent.interval=1s", "--history.interval=1s"}
	for _, c := range collector.SubCollectors() {
		args = append(args, "--collector."+c.Name)
	}
	p := Start(t, args...)
	// A guest just booted can take long to start its agent: 30 s were
	// too few at a load average of 5.
	waitAgentUp(t, p, "1", 60*time.Second, osNames...)
	var body string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		_, body = p.Get(t, "/metrics")
		if strings.Contains(body, "\nvadvisor_history_last_sample_timestamp_seconds ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the history took no sample in 10 s:\n%s", strings.Join(metricLines(body, "vadvisor_history_"), "\n"))
		}
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	scraped, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	documented, page := documentedFamilies(t)
	checked := 0
	for name, f := range scraped {
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") || name == "vadvisor_build_info" {
			// client_golang's standard collectors: one line of the page.
			for _, mention := range []string{"`go_*`", "`process_*`", "`vadvisor_build_info`"} {
				if !strings.Contains(page, mention) {
					t.Errorf("docs/metrics.md does not mention %s (scraped %s)", mention, name)
				}
			}
			continue
		}
		doc, ok := documented[name]
		if !ok {
			t.Errorf("scraped %s, which docs/metrics.md lacks: the page has collector.Families and the families of the collectors TestDocsMatchCode passes it (add its collector there), as of go generate ./...", name)
			continue
		}
		checked++
		if typ := strings.ToLower(f.GetType().String()); typ != doc.typ {
			t.Errorf("%s: scraped as a %s, documented as a %s", name, typ, doc.typ)
		}
		if f.GetHelp() != doc.help {
			t.Errorf("%s: scraped with the help\n\t%s\ndocumented as\n\t%s", name, f.GetHelp(), doc.help)
		}
		for _, m := range f.Metric {
			if labels := labelNames(m); !slices.Equal(labels, sorted(doc.labels)) {
				t.Errorf("%s: a series with the labels %v, documented as %v", name, labels, doc.labels)
				break
			}
		}
	}
	// The families of the default collectors, the guest agents', the
	// job's, the history's and the events' at least.
	if checked < 70 {
		t.Errorf("only %d families checked: the scrape lacks what it should have", checked)
	}
}

func labelNames(m *dto.Metric) []string {
	var names []string
	for _, l := range m.GetLabel() {
		names = append(names, l.GetName())
	}
	return sorted(names)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// helpFlag is a flag as `vadvisor --help` lists it: --name or --[no-]name,
// indented by 2 spaces and its short form or 6 spaces (its help's lines
// that follow, by more).
var helpFlag = regexp.MustCompile(`(?m)^  (?:-\w, |    )(--(?:\[no-\])?[\w.-]+)`)

// Every flag of `vadvisor --help` is on docs/flags.md.
func TestHelpFlagsDocumented(t *testing.T) {
	help, err := exec.Command(binary, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("vadvisor --help: %v\n%s", err, help)
	}
	page := string(readFile(t, filepath.Join(testbed.Root(), "docs", "flags.md")))
	flags := helpFlag.FindAllStringSubmatch(string(help), -1)
	if len(flags) < 30 {
		t.Fatalf("found %d flags in --help: its format changed?\n%s", len(flags), help)
	}
	for _, f := range flags {
		if !strings.Contains(page, "`"+f[1]+"`") && !strings.Contains(page, "`"+f[1]+"=") {
			t.Errorf("%s is in vadvisor --help, not in docs/flags.md: run go generate ./...", f[1])
		}
	}
}
