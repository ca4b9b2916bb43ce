package docgen

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vadvisor/vadvisor/collector"
	"github.com/vadvisor/vadvisor/domstats"
)

// Metrics renders docs/metrics.md: the collector's families, in the
// table sections "scrape" (those of every scrape) and "collectors" (a
// summary, then one part per sub-collector), in "own" the families that
// own describe (vAdvisor's own collectors, such as the history's), and in
// "reasons" libvirt's state reasons by state.
func Metrics(own ...prometheus.Collector) ([]byte, error) {
	bySub := map[string][]collector.Family{}
	for _, f := range collector.Families() {
		bySub[f.Collector] = append(bySub[f.Collector], f)
	}
	sections := map[string]string{}
	var err error
	if sections["scrape"], err = familyTable(bySub[""]); err != nil {
		return nil, err
	}
	delete(bySub, "")
	if sections["collectors"], err = collectorsSection(bySub); err != nil {
		return nil, err
	}
	if sections["own"], err = ownSection(own); err != nil {
		return nil, err
	}
	reasons := "| state | reasons |\n| --- | --- |\n"
	for _, r := range collector.StateReasons() {
		reasons += "| `" + r[0] + "` | " + r[1] + " |\n"
	}
	sections["reasons"] = strings.TrimSuffix(reasons, "\n")
	return render("metrics.md.tmpl", sections)
}

// collectorsSection is a summary of the sub-collectors, then each with its
// families (which bySub holds by sub-collector).
func collectorsSection(bySub map[string][]collector.Family) (string, error) {
	var summary [][]string
	var parts []string
	for _, c := range collector.SubCollectors() {
		state := "off"
		if c.DefaultOn {
			state = "on"
		}
		summary = append(summary, []string{"[" + c.Name + "](#" + c.Name + ")", state, text(c.Help)})
		families, ok := bySub[c.Name]
		if !ok {
			return "", fmt.Errorf("the %s collector declares no family", c.Name)
		}
		delete(bySub, c.Name)
		t, err := familyTable(families)
		if err != nil {
			return "", err
		}
		parts = append(parts, "### "+c.Name+"\n\n"+t)
	}
	for name := range bySub {
		return "", fmt.Errorf("families declare the collector %q, which is not registered", name)
	}
	return table([]string{"collector", "default", "exports"}, summary) + "\n\n" + strings.Join(parts, "\n\n"), nil
}

// familyTable lists families: name, type, labels, unit, where libvirt
// gives them and in which unit, and their help.
func familyTable(families []collector.Family) (string, error) {
	var rows [][]string
	for _, f := range families {
		unit, err := unitOf(f)
		if err != nil {
			return "", err
		}
		from := none
		if len(f.Sources) > 0 {
			var sources []string
			for _, s := range f.Sources {
				sources = append(sources, code(s))
			}
			from = strings.Join(sources, ", ")
			if converted(f.Unit) {
				from += " (" + f.Unit.String() + ")"
			}
		}
		rows = append(rows, []string{code(f.Name), typeName(f.Type), labelList(f.Labels), unit, from, text(f.Help)})
	}
	return table([]string{"metric", "type", "labels", "unit", "from libvirt", "meaning"}, rows), nil
}

// unitOf is the unit a family exports in, as its name ends (the
// Prometheus convention, and OpenMetrics' rule); a family that converts
// from a unit of libvirt must end in the base unit.
func unitOf(f collector.Family) (string, error) {
	name := strings.TrimSuffix(f.Name, "_total")
	unit := none
	for _, u := range []struct{ suffix, unit string }{
		{"_bytes_per_second", "bytes/s"}, {"_seconds", "seconds"}, {"_bytes", "bytes"}, {"_percent", "percent"},
	} {
		if strings.HasSuffix(name, u.suffix) {
			unit = u.unit
			break
		}
	}
	want := map[domstats.Unit][]string{
		domstats.Nanoseconds: {"seconds"}, domstats.Milliseconds: {"seconds"}, domstats.Seconds: {"seconds"},
		domstats.KiB: {"bytes", "bytes/s"}, domstats.MiB: {"bytes", "bytes/s"},
	}[f.Unit]
	if want != nil && !slices.Contains(want, unit) {
		return "", fmt.Errorf("%s converts libvirt's %s, but its name does not end in the base unit", f.Name, f.Unit)
	}
	return unit, nil
}

// converted tells whether vAdvisor converts libvirt's unit u.
func converted(u domstats.Unit) bool { return u != domstats.Count && u != domstats.Seconds }

func typeName(t dto.MetricType) string { return strings.ToLower(t.String()) }

func labelList(labels []string) string {
	if len(labels) == 0 {
		return none
	}
	return strings.Join(labels, ", ")
}

// ownSection lists the families that collectors describe.
func ownSection(collectors []prometheus.Collector) (string, error) {
	ch := make(chan *prometheus.Desc)
	go func() {
		for _, c := range collectors {
			c.Describe(ch)
		}
		close(ch)
	}()
	var families []collector.Family
	var errs []error
	for d := range ch {
		f, err := familyOf(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		families = append(families, f)
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	slices.SortFunc(families, func(a, b collector.Family) int { return strings.Compare(a.Name, b.Name) })
	return familyTable(families)
}

// descPattern reads a descriptor's String: client_golang keeps its name,
// help and labels to itself otherwise.
var descPattern = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*"), help: ("(?:[^"\\]|\\.)*"), (?:unit: "(?:[^"\\]|\\.)*", )?constLabels: \{\}, variableLabels: \{([a-z_,]*)\}\}$`)

// familyOf is the family of a descriptor of vAdvisor's own: a counter if
// its name ends in _total (promtool's rule, which
// e2e/TestMetricsPromtoolClean holds a scrape to), else a gauge.
func familyOf(d *prometheus.Desc) (collector.Family, error) {
	m := descPattern.FindStringSubmatch(d.String())
	if m == nil {
		return collector.Family{}, fmt.Errorf("cannot read the descriptor %s", d)
	}
	name, err := strconv.Unquote(m[1])
	if err != nil {
		return collector.Family{}, err
	}
	help, err := strconv.Unquote(m[2])
	if err != nil {
		return collector.Family{}, err
	}
	f := collector.Family{Name: name, Help: help, Type: dto.MetricType_GAUGE}
	if m[3] != "" {
		f.Labels = strings.Split(m[3], ",")
	}
	if strings.HasSuffix(name, "_total") {
		f.Type = dto.MetricType_COUNTER
	}
	return f, nil
}
