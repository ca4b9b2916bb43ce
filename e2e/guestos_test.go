package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

// osGuests are the test bed's guests with a real OS (scripts/linux-guest.sh):
// the only ones whose guest reports its memory figures and whose disk and
// network counters move. TestMain stops them after the tests.
const osGuests = "vadv-l"

func linuxGuests(t *testing.T) []string { return testbed.LinuxGuests(t, osGuests, 2) }

// balloonStats is `virsh domstats --balloon` of one domain, field -> value.
func balloonStats(t *testing.T, name string) map[string]uint64 {
	t.Helper()
	m := map[string]uint64{}
	for _, line := range strings.Split(testbed.Virsh(t, "domstats", "--balloon", name), "\n") {
		field, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("virsh domstats --balloon %s: %s", name, line)
		}
		m[strings.TrimPrefix(field, "balloon.")] = n
	}
	return m
}

// steadyRead calls read between two readings of the guest's balloon
// statistics and returns the first, once both agree on when the guest last
// reported and on the host's RSS: then read saw those very figures. The
// guest reports every 2 s, so a few tries find a quiet moment.
func steadyRead(t *testing.T, name string, read func()) map[string]uint64 {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for tries := 1; ; tries++ {
		before := balloonStats(t, name)
		read()
		after := balloonStats(t, name)
		if before["last-update"] == after["last-update"] && before["rss"] == after["rss"] {
			return before
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the balloon statistics changed during each of %d reads in 15 s", name, tries)
		}
	}
}

// Every memory figure the guest reports is exported, equal to what libvirt
// gives (KiB as bytes), and used_percent follows from them.
func TestGuestOSMemoryMatchesLibvirt(t *testing.T) {
	guests := linuxGuests(t)
	p := Start(t)
	bytesOf := map[string]string{ // KiB fields, exported in bytes
		"current": "current_balloon_bytes", "maximum": "maximum_bytes", "rss": "rss_bytes",
		"usable": "usable_bytes", "unused": "unused_bytes", "available": "available_bytes",
		"disk_caches": "disk_caches_bytes", "swap_in": "swap_in_bytes", "swap_out": "swap_out_bytes",
	}
	countOf := map[string]string{
		"major_fault": "major_fault_total", "minor_fault": "minor_fault_total",
		"hugetlb_pgalloc": "hugetlb_pgalloc_total", "hugetlb_pgfail": "hugetlb_pgfail_total",
		"last-update": "last_update_timestamp_seconds",
	}
	for _, g := range guests {
		var body string
		v := steadyRead(t, g, func() { _, body = p.Get(t, "/metrics") })
		got := series(body)
		check := func(field, metric string, want float64) {
			key := `libvirt_domain_memory_stats_` + metric + `{domain="` + g + `"}`
			s, ok := got[key]
			if _, given := v[field]; !given {
				t.Errorf("%s: libvirt gives no balloon.%s: the guest does not report its memory", g, field)
			} else if !ok {
				t.Errorf("%s: no %s", g, key)
			} else if f, err := strconv.ParseFloat(s, 64); err != nil || f != want {
				t.Errorf("%s: %s = %s, want %v: libvirt says balloon.%s=%d", g, key, s, want, field, v[field])
			}
		}
		for field, metric := range bytesOf {
			check(field, metric, float64(v[field])*1024)
		}
		for field, metric := range countOf {
			check(field, metric, float64(v[field]))
		}
		pct, err := strconv.ParseFloat(got[`libvirt_domain_memory_stats_used_percent{domain="`+g+`"}`], 64)
		want := float64(v["available"]-v["usable"]) / float64(v["available"]) * 100
		if err != nil || pct <= 0 || pct >= 100 || pct != want {
			t.Errorf("%s: used_percent %v (%v), want %v, between 0 and 100", g, pct, err, want)
		}
	}
}

// The stats API's memory fields of a guest with a real OS, the
// guest-reported ones among them (only a guest's balloon driver reports
// them), equal to libvirt's.
func TestGuestOSStatsAPIMemory(t *testing.T) {
	g := linuxGuests(t)[0]
	uuid := testbed.Virsh(t, "domuuid", g)
	p := Start(t)
	var body string
	v := steadyRead(t, g, func() { _, body = p.Get(t, "/api/v1.0/stats/"+uuid+"?live=true") })
	var samples map[string][]struct {
		Memory  map[string]*uint64 `json:"memory"`
		Balloon map[string]*uint64 `json:"balloon"`
	}
	if err := json.Unmarshal([]byte(body), &samples); err != nil || len(samples[uuid]) != 1 {
		t.Fatalf("GET ?live=true: %v: %s", err, body)
	}
	s := samples[uuid][0]
	for _, c := range []struct {
		field string
		got   *uint64
		want  uint64
	}{
		{"memory.actual", s.Memory["actual"], v["current"]},
		{"memory.rss", s.Memory["rss"], v["rss"]},
		{"memory.swap_in", s.Memory["swap_in"], v["swap_in"]},
		{"memory.swap_out", s.Memory["swap_out"], v["swap_out"]},
		{"memory.major_fault", s.Memory["major_fault"], v["major_fault"]},
		{"memory.minor_fault", s.Memory["minor_fault"], v["minor_fault"]},
		{"memory.usable", s.Memory["usable"], v["usable"]},
		{"memory.unused", s.Memory["unused"], v["unused"]},
		{"memory.available", s.Memory["available"], v["available"]},
		{"memory.disk_caches", s.Memory["disk_caches"], v["disk_caches"]},
		{"balloon.current", s.Balloon["current"], v["current"]},
		{"balloon.maximum", s.Balloon["maximum"], v["maximum"]},
	} {
		if c.got == nil {
			t.Errorf("%s: %s is null, libvirt says %d KiB", g, c.field, c.want)
		} else if *c.got != c.want {
			t.Errorf("%s: %s = %d, libvirt says %d KiB", g, c.field, *c.got, c.want)
		}
	}
	// The history keeps them too.
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, body = p.Get(t, "/api/v1.0/stats/"+uuid)
		samples = nil
		if err := json.Unmarshal([]byte(body), &samples); err != nil {
			t.Fatalf("GET the history: %v: %s", err, body)
		}
		if n := len(samples[uuid]); n > 0 {
			var null []string
			for f, v := range samples[uuid][n-1].Memory {
				if v == nil {
					null = append(null, f)
				}
			}
			if len(samples[uuid][n-1].Memory) == 10 && len(null) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the history's last sample has memory %v: %v null", g, samples[uuid][n-1].Memory, null)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The guests' own activity moves their disk, network and guest-memory
// counters, as a user of the dashboard would see.
func TestGuestOSCountersMove(t *testing.T) {
	guests := linuxGuests(t)
	p := Start(t)
	moving := []string{
		"libvirt_domain_block_stats_read_bytes_total", "libvirt_domain_block_stats_read_requests_total",
		"libvirt_domain_block_stats_write_bytes_total", "libvirt_domain_block_stats_write_requests_total",
		"libvirt_domain_block_stats_flush_requests_total",
		"libvirt_domain_interface_stats_transmit_bytes_total", "libvirt_domain_interface_stats_transmit_packets_total",
		"libvirt_domain_memory_stats_minor_fault_total", "libvirt_domain_info_cpu_time_seconds_total",
	}
	values := func() map[string]float64 {
		_, body := p.Get(t, "/metrics")
		out := map[string]float64{}
		for _, g := range guests {
			for k, v := range domainSeries(body, g) {
				for _, name := range moving {
					if strings.HasPrefix(k, name+"{") {
						f, _ := strconv.ParseFloat(v, 64)
						out[g+" "+name] = f
					}
				}
			}
		}
		return out
	}
	first := values()
	if len(first) != len(guests)*len(moving) {
		t.Fatalf("%d of the %d series to watch exported: %v", len(first), len(guests)*len(moving), first)
	}
	// The guests' loop writes, reads and pings every 5 s or so; 60 s leaves
	// room for a round slowed down by a busy host.
	deadline := time.Now().Add(60 * time.Second)
	for {
		now := values()
		var still []string
		for k, v := range first {
			if now[k] <= v {
				still = append(still, k)
			}
		}
		if len(still) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not moved in 60 s: %v", still)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

var stateReason = regexp.MustCompile(`libvirt_domain_state_reason\{domain="([^"]+)",reason="([^"]+)",state="([^"]+)"\} 1`)

// reasonsOf returns, per domain of names, its state and reason series;
// more than one series for a domain is an error.
func reasonsOf(t *testing.T, body string, names ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range stateReason.FindAllStringSubmatch(body, -1) {
		for _, n := range names {
			if m[1] == n {
				if prev, dup := out[n]; dup {
					t.Errorf("%s has two state reasons: %s and %s (%s)", n, prev, m[3], m[2])
				}
				out[n] = fmt.Sprintf("%s (%s)", m[3], m[2])
			}
		}
	}
	return out
}

// A paused guest's reason is the one `virsh domstate --reason` shows:
// user after virsh suspend, unpaused after virsh resume. History samples
// are read all the time, so that a scrape mostly comes while one is read
// (and joins it).
func TestStateReasonFollowsPause(t *testing.T) {
	g := linuxGuests(t)[1]
	p := Start(t, "--history.interval=100ms")
	t.Cleanup(func() { _ = testbed.TryVirsh("resume", g) })
	for _, step := range []struct{ action, want string }{
		{"", ""}, // as it is now: booted, or unpaused after an earlier run
		{"suspend", "paused (user)"},
		{"resume", "running (unpaused)"},
	} {
		if step.action != "" {
			testbed.Virsh(t, step.action, g)
		}
		_, body := p.Get(t, "/metrics")
		virsh := testbed.Virsh(t, "domstate", "--reason", g)
		if step.want != "" && virsh != step.want {
			t.Fatalf("after virsh %s, virsh domstate --reason says %q, not %q", step.action, virsh, step.want)
		}
		if got := reasonsOf(t, body, g)[g]; got != virsh {
			t.Errorf("after %q: libvirt_domain_state_reason says %s, virsh domstate --reason %q", step.action, got, virsh)
		}
	}
}

var statsPeriod = regexp.MustCompile(`<stats period=['"](\d+)['"]`)

// libvirt_domain_memory_stats_period_seconds is the balloon's stats period
// of the domain XML: the real-OS guests report every few seconds, a guest
// whose XML sets none reports never (0).
func TestMemoryStatsPeriod(t *testing.T) {
	want := map[string]string{}
	for _, g := range append(linuxGuests(t), testbed.Guests(t, "vadv-t", 1)...) {
		want[g] = "0"
		if m := statsPeriod.FindStringSubmatch(testbed.Virsh(t, "dumpxml", g)); m != nil {
			want[g] = m[1]
		}
	}
	p := Start(t)
	_, body := p.Get(t, "/metrics")
	got := series(body)
	for g, w := range want {
		key := `libvirt_domain_memory_stats_period_seconds{domain="` + g + `"}`
		if got[key] != w {
			t.Errorf("%s = %q, want %s from the domain XML", key, got[key], w)
		}
	}
	if want[osGuests+"1"] == "0" {
		t.Errorf("%s1's XML sets no stats period: the test bed's real-OS guests must report their memory", osGuests)
	}
}
