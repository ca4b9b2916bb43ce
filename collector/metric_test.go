package collector

import (
	"context"
	"strings"
	"testing"

	"github.com/digitalocean/go-libvirt"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"libvirt.org/go/libvirtxml"

	"github.com/vadvisor/vadvisor/domstats"
)

// In OpenMetrics, which Prometheus asks for, a counter's family is named
// without its _total suffix: no other family may have that name.
func TestFamilyNamesDoNotClashInOpenMetrics(t *testing.T) {
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	for _, f := range families {
		if f.GetType() != dto.MetricType_COUNTER {
			continue
		}
		if !strings.HasSuffix(f.GetName(), "_total") {
			t.Errorf("counter %s does not end in _total", f.GetName())
			continue
		}
		if base := strings.TrimSuffix(f.GetName(), "_total"); names[base] {
			t.Errorf("counter %s and the family %s share the OpenMetrics family name %s", f.GetName(), base, base)
		}
	}
}

// docs/metrics.md lists each family under the sub-collector its
// declaration names: each sub-collector that can run over a fixed
// reading, run alone, sends only families declared as its own.
func TestFamiliesDeclareTheirCollector(t *testing.T) {
	var def libvirtxml.Domain
	if err := def.Unmarshal(novaXML); err != nil {
		t.Fatal(err)
	}
	one := domstats.Decode(record("instance-0001", 1, 7, guestWithEverything))
	reading := scrape{
		ctx:     context.Background(),
		reading: &domstats.Reading{Domains: []domstats.Domain{one}},
		defs:    map[libvirt.UUID]*definition{one.UUID: newDefinition(&def)},
	}
	job := record("x", 0, 1, "time_elapsed=1\ndata_total=1")
	for name, c := range map[string]prometheus.Collector{
		"domain": &cannedCollector{reading, []string{"domain"}}, "memory": &cannedCollector{reading, []string{"memory"}},
		"vcpu": &cannedCollector{reading, []string{"vcpu"}}, "block": &cannedCollector{reading, []string{"block"}},
		"interface": &cannedCollector{reading, []string{"interface"}}, "perf": &cannedCollector{reading, []string{"perf"}},
		"iothread": &cannedCollector{reading, []string{"iothread"}}, "dirtyrate": &cannedCollector{reading, []string{"dirtyrate"}},
		"kvm": &cannedCollector{reading, []string{"kvm"}}, "openstack": &cannedCollector{reading, []string{"openstack"}},
		"job": jobCollector{job.Params},
	} {
		ch := make(chan prometheus.Metric)
		go func() { c.Collect(ch); close(ch) }()
		sent := 0
		for m := range ch {
			sent++
			if f := families[m.Desc()]; f.collector != name {
				t.Errorf("the %s collector sends %s, declared as the %q collector's", name, f.GetName(), f.collector)
			}
		}
		if sent == 0 {
			t.Errorf("the %s collector sent nothing: the check checked nothing", name)
		}
	}
}
