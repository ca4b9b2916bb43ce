// Package monitoring_test checks the shipped dashboard against Grafana's own
// dashboard schema, as generated into the Grafana foundation SDK: a test-only
// dependency, the exporter does not link it.
package monitoring_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// loadTimeDefaults are the required fields of the schema the dashboard
// leaves out because Grafana fills them in when it loads the dashboard: a
// panel's options are merged over its plugin's default options, and a
// variable's current value is set when its query first runs. The check
// fills them in the same way, each only where it is missing, before it
// decodes: keyed by panel type (or "variable" for every template variable)
// and path, with the value Grafana uses. Nothing else is filled or excused,
// and a default the dashboard no longer needs fails the test.
var loadTimeDefaults = map[string]any{
	"stat.options.graphMode":              "area",
	"stat.options.colorMode":              "value",
	"stat.options.justifyMode":            "auto",
	"stat.options.textMode":               "auto",
	"stat.options.wideLayout":             true,
	"stat.options.showPercentChange":      false,
	"stat.options.percentChangeColorMode": "standard",
	"stat.options.orientation":            "auto",
	"bargauge.options.valueMode":          "color",
	"bargauge.options.namePlacement":      "auto",
	"bargauge.options.showUnfilled":       true,
	"bargauge.options.sizing":             "auto",
	"bargauge.options.minVizWidth":        8,
	"bargauge.options.minVizHeight":       16,
	"bargauge.options.maxVizHeight":       300,
	"bargauge.options.legend": map[string]any{
		"displayMode": "list", "placement": "bottom", "showLegend": true, "calcs": []any{},
	},
	"timeseries.options.legend.showLegend": true,
	// Empty until the query has run; the schema only asks for the keys.
	"variable.current.text":  "",
	"variable.current.value": "",
}

func init() { plugins.RegisterDefaultPlugins() }

// schemaErrors fills loadTimeDefaults into a dashboard, then decodes it
// strictly with Grafana's schema (an unknown key or a wrong type is an
// error), every panel's fieldConfig strictly too (the panel decoder checks
// only its custom part), and validates the result (ranges, required values).
// It returns the errors and the keys of the defaults it filled in.
func schemaErrors(raw []byte) (errs []string, filled map[string]bool) {
	filled = map[string]bool{}
	var d map[string]any
	if err := json.Unmarshal(raw, &d); err != nil {
		return []string{err.Error()}, filled
	}
	if templating, ok := d["templating"].(map[string]any); ok {
		variables, _ := templating["list"].([]any)
		for _, v := range variables {
			if v, ok := v.(map[string]any); ok {
				fillDefaults(v, "variable", filled)
			}
		}
	}
	// Panels are decoded one by one: the SDK's decoder of the panel-or-row
	// union takes the empty error list of a good panel for a failure and
	// drops the panel, so Dashboard.Validate would never see a panel.
	panels, _ := d["panels"].([]any)
	delete(d, "panels")
	errs = decode("dashboard", d, &dashboard.Dashboard{})
	for i, p := range panels {
		where := fmt.Sprintf("panels[%d]", i)
		p, ok := p.(map[string]any)
		if !ok {
			errs = append(errs, where+": not an object")
			continue
		}
		typ, _ := p["type"].(string)
		fillDefaults(p, typ, filled)
		if typ == "row" {
			errs = append(errs, decode(where, p, &dashboard.RowPanel{})...)
			continue
		}
		errs = append(errs, decode(where, p, &dashboard.Panel{})...)
		if fc, ok := p["fieldConfig"]; ok {
			errs = append(errs, decode(where+".fieldConfig", fc, &dashboard.FieldConfigSource{})...)
		}
	}
	return errs, filled
}

// schema is a type of Grafana's schema, as the SDK generates them.
type schema interface {
	UnmarshalJSONStrict([]byte) error
	Validate() error
}

// decode decodes v strictly into s, validates it, and returns the errors,
// each with where it was found.
func decode(where string, v any, s schema) []string {
	raw, err := json.Marshal(v)
	if err != nil {
		return []string{where + ": " + err.Error()}
	}
	err = s.UnmarshalJSONStrict(raw)
	if isEmpty(err) {
		err = s.Validate()
	}
	if isEmpty(err) {
		return nil
	}
	var out []string
	for _, e := range cog.MakeBuildErrors(where, err) {
		out = append(out, e.Error())
	}
	return out
}

// isEmpty tells a success of the SDK's decoders, which return an empty
// error list for it.
func isEmpty(err error) bool {
	var build cog.BuildErrors
	return err == nil || errors.As(err, &build) && len(build) == 0
}

// fillDefaults sets the loadTimeDefaults of kind that obj lacks, where
// the object holding them exists, and notes their keys in filled.
func fillDefaults(obj map[string]any, kind string, filled map[string]bool) {
	for key, value := range loadTimeDefaults {
		path, ok := strings.CutPrefix(key, kind+".")
		if !ok {
			continue
		}
		keys := strings.Split(path, ".")
		parent := obj
		for _, k := range keys[:len(keys)-1] {
			if parent, ok = parent[k].(map[string]any); !ok {
				break
			}
		}
		last := keys[len(keys)-1]
		if _, set := parent[last]; ok && !set {
			parent[last] = value
			filled[key] = true
		}
	}
}

func readDashboard(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile("vadvisor-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// The shipped dashboard is one Grafana's schema accepts.
func TestDashboardMatchesGrafanaSchema(t *testing.T) {
	errs, filled := schemaErrors(readDashboard(t))
	for _, e := range errs {
		t.Error(e)
	}
	for key := range loadTimeDefaults {
		if !filled[key] {
			t.Errorf("loadTimeDefaults has %s, which the dashboard sets or does not need: remove it", key)
		}
	}
}

// The check rejects what Grafana would not load as written: each case
// breaks the shipped dashboard in one place and names the error it wants.
func TestDashboardSchemaCheckRejects(t *testing.T) {
	raw := readDashboard(t)
	for _, c := range []struct {
		name   string
		mutate func(d map[string]any)
		want   string
	}{
		{"misspelt top-level key", func(d map[string]any) { rename(d, "graphTooltip", "graphToolTip") }, "unexpected field 'graphToolTip'"},
		{"misspelt panel key", func(d map[string]any) { rename(panel(d, 1), "gridPos", "gridpos") }, "unexpected field 'gridpos'"},
		{"misspelt panel option", func(d map[string]any) { rename(obj(panel(d, 6), "options", "legend"), "displayMode", "display_mode") }, "unexpected field 'display_mode'"},
		{"misspelt fieldConfig key", func(d map[string]any) { rename(obj(panel(d, 2), "fieldConfig", "defaults"), "unit", "units") }, "unexpected field 'units'"},
		{"misspelt query key", func(d map[string]any) {
			rename(panel(d, 2)["targets"].([]any)[0].(map[string]any), "legendFormat", "legend")
		}, "unexpected field 'legend'"},
		{"misspelt variable key", func(d map[string]any) {
			rename(obj(d, "templating")["list"].([]any)[1].(map[string]any), "includeAll", "includeALL")
		}, "unexpected field 'includeALL'"},
		{"string for a number", func(d map[string]any) { obj(panel(d, 1), "gridPos")["h"] = "4" }, "panels[1].gridPos.h"},
		{"string for a boolean", func(d map[string]any) { d["editable"] = "yes" }, "editable"},
		{"number for a string in fieldConfig", func(d map[string]any) { obj(panel(d, 2), "fieldConfig", "defaults")["unit"] = 1 }, "panels[2].fieldConfig"},
		{"wrong type where a default would be filled", func(d map[string]any) { obj(panel(d, 2), "options")["graphMode"] = 1 }, "panels[2].options.graphMode"},
		{"panel wider than the grid", func(d map[string]any) { obj(panel(d, 1), "gridPos")["w"] = 25 }, "must be <= 24"},
		{"required panel type missing", func(d map[string]any) { delete(panel(d, 1), "type") }, "type"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var d map[string]any
			if err := json.Unmarshal(raw, &d); err != nil {
				t.Fatal(err)
			}
			c.mutate(d)
			broken, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			errs, _ := schemaErrors(broken)
			if !strings.Contains(strings.Join(errs, "\n"), c.want) {
				t.Errorf("want an error with %q, got %q", c.want, errs)
			}
		})
	}
}

func panel(d map[string]any, i int) map[string]any { return d["panels"].([]any)[i].(map[string]any) }

// obj is the object at keys under m.
func obj(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		m = m[k].(map[string]any)
	}
	return m
}

// rename moves m's key from to key to, which must exist.
func rename(m map[string]any, from, to string) {
	v, ok := m[from]
	if !ok {
		panic("no key " + from)
	}
	delete(m, from)
	m[to] = v
}
