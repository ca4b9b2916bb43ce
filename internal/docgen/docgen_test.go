package docgen

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vadvisor/vadvisor/collector"
	"github.com/vadvisor/vadvisor/domstats"
)

// A table section the template lacks, or one it names that there is no
// table for, fails the page rather than leaving flags or families out.
func TestEveryTableSectionOnce(t *testing.T) {
	sections := map[string]string{"web": "", "libvirt": "", "history": "", "storage": "", "events": "", "collector": "", "log": "", "other": ""}
	if _, err := render("flags.md.tmpl", sections); err != nil {
		t.Fatalf("every section given: %v", err)
	}
	sections["api"] = ""
	if _, err := render("flags.md.tmpl", sections); err == nil || !strings.Contains(err.Error(), `"api"`) {
		t.Errorf("a section the template lacks: error %v, want one naming it", err)
	}
	delete(sections, "api")
	delete(sections, "log")
	if _, err := render("flags.md.tmpl", sections); err == nil || !strings.Contains(err.Error(), `"log"`) {
		t.Errorf("a section the template names with no table: error %v, want one naming it", err)
	}
}

// The descriptors of vAdvisor's own collectors are read whole: name, help
// (quotes and all), labels, and the type their name gives.
func TestOwnDescriptorsRead(t *testing.T) {
	for _, tc := range []struct {
		desc *prometheus.Desc
		want collector.Family
	}{
		{prometheus.NewDesc("vadvisor_x_total", `Counts "x", by {kind}.`, []string{"kind", "event_type"}, nil),
			collector.Family{Name: "vadvisor_x_total", Help: `Counts "x", by {kind}.`, Type: dto.MetricType_COUNTER, Labels: []string{"kind", "event_type"}}},
		{prometheus.NewDesc("vadvisor_y", "Y.", nil, nil),
			collector.Family{Name: "vadvisor_y", Help: "Y.", Type: dto.MetricType_GAUGE}},
	} {
		got, err := familyOf(tc.desc)
		if err != nil {
			t.Errorf("%s: %v", tc.desc, err)
			continue
		}
		if got.Name != tc.want.Name || got.Help != tc.want.Help || got.Type != tc.want.Type || !slices.Equal(got.Labels, tc.want.Labels) {
			t.Errorf("%s read as %+v, want %+v", tc.desc, got, tc.want)
		}
	}
	if _, err := familyOf(prometheus.NewDesc("vadvisor_z", "Z.", nil, prometheus.Labels{"const": "1"})); err == nil {
		t.Error("a descriptor with a constant label (which the page does not show) was read")
	}
}

// A family that converts libvirt's unit must be named in the base unit.
func TestConvertedFamilyNamedInBaseUnit(t *testing.T) {
	for _, tc := range []struct {
		f    collector.Family
		want string // "" for an error
	}{
		{collector.Family{Name: "a_seconds_total", Unit: domstats.Nanoseconds}, "seconds"},
		{collector.Family{Name: "a_bytes", Unit: domstats.KiB}, "bytes"},
		{collector.Family{Name: "a_bytes_per_second", Unit: domstats.MiB}, "bytes/s"},
		{collector.Family{Name: "a_total", Unit: domstats.Count}, none},
		{collector.Family{Name: "a_total", Unit: domstats.KiB}, ""},
		{collector.Family{Name: "a_bytes", Unit: domstats.Milliseconds}, ""},
	} {
		got, err := unitOf(tc.f)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s from %s: unit %q, want an error", tc.f.Name, tc.f.Unit, got)
			}
		} else if got != tc.want || err != nil {
			t.Errorf("%s from %s: unit %q, %v; want %q", tc.f.Name, tc.f.Unit, got, err, tc.want)
		}
	}
}
