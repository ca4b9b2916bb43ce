package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

const fleetGuests = "vadv-fl"

// fleetSite is what the test expects of one site's series at the global
// servers.
type fleetSite struct{ site, instance string }

// TestPromFleet is the many-sites set-up of docs/operating.md (Fleets), run with
// the shipped configs and real servers: two hypervisors (the real libvirtd
// and a test-driver node, both with a domain vadv-fl1), each scraped by its
// own site Prometheus (prometheus-fleet-site.yml), a global Prometheus
// federating both (prometheus-fleet-global.yml), and a Prometheus receiving
// both sites' samples by remote write. Both global servers must hold each
// host's domain series apart, by instance and site, with only the series
// that federation's match[] and remote write's relabelling let through.
func TestPromFleet(t *testing.T) {
	guest := testbed.Guests(t, fleetGuests, 1)[0]
	testbed.StopWhenDone(t, []string{guest})
	hv1 := Start(t)
	// The test node's domains are vadv-fl0 and vadv-fl1: a VM of the same
	// name as the real guest, on another site.
	hv2 := Start(t, "--libvirt.uri="+testbed.TestNode(t, fleetGuests, 2))

	store := startPrometheus(t, t.TempDir(), "scrape_configs: []\n", "--web.enable-remote-write-receiver")
	startSite := func(site string, hv *Process) *promServer {
		return startPrometheus(t, t.TempDir(), example(t, "prometheus/prometheus-fleet-site.yml",
			"scrape_interval: 15s", "scrape_interval: 1s",
			"site: site-a", "site: "+site,
			"hv1.site-a.example.com:8181", hv.Addr,
			"https://metrics-store.example.com", "http://"+store.addr))
	}
	siteA, siteB := startSite("site-a", hv1), startSite("site-b", hv2)
	global := startPrometheus(t, t.TempDir(), example(t, "prometheus/prometheus-fleet-global.yml",
		"scrape_interval: 15s", "scrape_interval: 1s",
		"prometheus-site-a.example.com:9090", siteA.addr,
		"prometheus-site-b.example.com:9090", siteB.addr))

	want := []fleetSite{{"site-a", hv1.Addr}, {"site-b", hv2.Addr}}
	for _, server := range []struct {
		name string
		ps   *promServer
	}{{"federating", global}, {"remote-write-receiving", store}} {
		t.Run(server.name, func(t *testing.T) {
			ps := server.ps
			got := ps.waitFor(t, `libvirt_domain_info{job="vadvisor", domain="`+guest+`"}`, 20*time.Second, func(s []promSample) bool {
				return len(s) == len(want)
			})
			var sites []fleetSite
			for _, s := range got {
				sites = append(sites, fleetSite{s.Metric["site"], s.Metric["instance"]})
			}
			slices.SortFunc(sites, func(a, b fleetSite) int { return strings.Compare(a.site, b.site) })
			if !slices.Equal(sites, want) {
				t.Errorf("%s by site and instance: %v, want %v", guest, sites, want)
			}
			ps.waitFor(t, `libvirt_domain_info{job="vadvisor", site="site-b", instance="`+hv2.Addr+`", domain="`+fleetGuests+`0"}`, 10*time.Second, nonEmpty)
			if s := ps.query(t, `{job="vadvisor", __name__=~"go_.+|process_.+"}`); len(s) > 0 {
				t.Errorf("vadvisor's runtime series arrived, which the config filters out: %v", s[0].Metric)
			}
		})
	}
}
