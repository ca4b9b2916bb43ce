package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

// The domain filters leave the same domains out of /metrics, the history,
// live readings, the specs, the host summary and the events (the UI reads
// these APIs), while other domains run on the host.
func TestDomainFilters(t *testing.T) {
	names := testbed.Guests(t, "vadv-fi", 3)
	kept, excluded, notIncluded := names[0], names[1], names[2]
	uuid := map[string]string{}
	for _, n := range names {
		uuid[n] = testbed.Virsh(t, "domuuid", n)
	}
	p := Start(t, "--libvirt.domain-include=vadv-fi[12]", "--libvirt.domain-exclude=vadv-fi2", "--history.interval=500ms")
	left := []string{excluded, notIncluded}

	body, _ := scrape(t, p)
	if lines := metricLines(body, "libvirt_domain_info{"); len(lines) != 1 || !strings.Contains(lines[0], `domain="`+kept+`"`) {
		t.Errorf("/metrics: libvirt_domain_info should be %s's alone:\n%s", kept, strings.Join(lines, "\n"))
	}
	if n := value(body, "libvirt_domains"); n != "1" {
		t.Errorf("libvirt_domains = %s, want 1", n)
	}
	for _, n := range left {
		if strings.Contains(body, `domain="`+n+`"`) {
			t.Errorf("/metrics shows %s", n)
		}
	}

	only := func(path string) string {
		t.Helper()
		status, body := p.Get(t, path)
		if status != 200 || !strings.Contains(body, uuid[kept]) {
			t.Errorf("GET %s: %d, no %s (%s):\n%.300s", path, status, kept, uuid[kept], body)
		}
		for _, n := range left {
			if strings.Contains(body, uuid[n]) || strings.Contains(body, `"`+n+`"`) {
				t.Errorf("GET %s shows %s:\n%.300s", path, n, body)
			}
		}
		return body
	}
	only("/api/v1.0/stats/?live=true")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, body := p.Get(t, "/api/v1.0/stats/"); strings.Contains(body, uuid[kept]) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	only("/api/v1.0/stats/")
	only("/api/v1.0/specs/")
	for _, n := range left {
		for _, key := range []string{n, uuid[n]} {
			if status, body := p.Get(t, "/api/v1.0/specs/"+key); status != 404 {
				t.Errorf("GET /api/v1.0/specs/%s: %d, want 404 for a domain left out:\n%.300s", key, status, body)
			}
		}
	}
	if status, body := p.Get(t, "/api/v1.0/specs/"+kept); status != 200 {
		t.Errorf("GET /api/v1.0/specs/%s: %d:\n%.300s", kept, status, body)
	}
	if _, body := p.Get(t, "/api/v1.0/host"); !strings.Contains(body, `"domains":1,`) {
		t.Errorf("/api/v1.0/host should count 1 domain:\n%s", body)
	}

	// Events: the domains left out change first; once the kept one's
	// change is in, theirs would have been too.
	for _, n := range append(left, kept) {
		testbed.Virsh(t, "suspend", n)
		testbed.Virsh(t, "resume", n)
	}
	waitEvent(t, p, "all_events=true", `"domain_name":"`+kept+`"`, `"event_type":"Resumed"`)
	only("/api/v1.0/events?all_events=true")
}

// A filter that leaves out every domain gives empty answers, not every
// domain (an empty list in the bulk call means all of them).
func TestDomainFilterOfNone(t *testing.T) {
	testbed.Guests(t, "vadv-fi", 1)
	p := Start(t, "--libvirt.domain-include=no-such-domain")
	body, _ := scrape(t, p)
	if n := value(body, "libvirt_domains"); n != "0" || value(body, "libvirt_up") != "1" {
		t.Errorf("libvirt_domains = %q, libvirt_up = %q; want 0 and 1", n, value(body, "libvirt_up"))
	}
	if lines := metricLines(body, "libvirt_domain_"); len(lines) > 0 {
		t.Errorf("domain series with every domain left out:\n%s", strings.Join(lines, "\n"))
	}
	for _, path := range []string{"/api/v1.0/stats/?live=true", "/api/v1.0/specs/"} {
		if status, body := p.Get(t, path); status != 200 || strings.TrimSpace(body) != "{}" {
			t.Errorf("GET %s: %d %.300s; want 200 {}", path, status, body)
		}
	}
}
