package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/internal/testbed"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

// Guests of the fault tests: in the largest, faultStuck of faultGuests are
// hung, the others stay healthy as the control.
const (
	faultPrefix = "vadv-f"
	faultGuests = 30
	faultStuck  = 6 // more than libvirtd's max_client_requests (5)
)

// faultTimeout is the --libvirt.timeout the fault tests run vadvisor with,
// and scrapeTimeout the X-Prometheus-Scrape-Timeout-Seconds they send.
const (
	faultTimeout  = 2 * time.Second
	scrapeTimeout = 10 * time.Second
)

// TestHungGuest stops one guest's QEMU: scrapes stay within their deadline,
// every other guest keeps all its series, the hung guest is reported by
// libvirt_domain_timed_out and none of its counters falls, the next scrapes
// are not held up, and all recovers when the guest runs again.
func TestHungGuest(t *testing.T) {
	exclusive(t)
	names := testbed.Guests(t, faultPrefix, 2)
	stuck, healthy := names[0], names[1]
	p := Start(t, "--libvirt.uri=qemu:///system", "--libvirt.timeout="+faultTimeout.String(),
		"--history.interval=250ms", "--history.retention=30s")

	before := waitComplete(t, p, names)
	normal := scrapeDuration(t, p)
	stopGuest(t, stuck)
	// A reading already under way when the guest stopped may still end
	// well, and a scrape joins the reading in flight: let it end first.
	time.Sleep(500 * time.Millisecond)

	first, took := scrape(t, p)
	if limit := normal + faultTimeout + time.Second; took > limit {
		t.Errorf("the first scrape with %s hung took %s; at most %s (normal scrape %s + --libvirt.timeout %s + 1s)", stuck, took, limit, normal, faultTimeout)
	}
	checkStuck(t, "first scrape", first, before, stuck)
	checkComplete(t, "first scrape", first, before, healthy)

	// The next scrapes: a hung guest that held each up would cost it the
	// call timeout; their median says so on a noisy machine.
	var times []time.Duration
	for range 3 {
		next, took := scrape(t, p)
		times = append(times, took)
		checkStuck(t, "next scrape", next, before, stuck)
		checkComplete(t, "next scrape", next, before, healthy)
	}
	slices.Sort(times)
	if limit := normal + time.Second; times[1] > limit {
		t.Errorf("the scrapes after the first one took %v with %s still hung; the hung guest must not hold them up (median limit %s)", times, stuck, limit)
	}

	// The history sampler keeps ticking for the healthy guest.
	healthyID := testbed.Virsh(t, "domuuid", healthy)
	from := newestSample(t, p, healthyID)
	time.Sleep(2 * time.Second)
	if to := newestSample(t, p, healthyID); to.Sub(from) < time.Second {
		t.Errorf("with %s hung, %s's history advanced only from %s to %s in 2s", stuck, healthy, from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
	}

	contGuest(t, stuck)
	waitComplete(t, p, names)
}

// newestSample is the time of a VM's newest history sample.
func newestSample(t *testing.T, p *Process, uuid string) time.Time {
	t.Helper()
	status, body := p.Get(t, "/api/v1.0/stats/"+uuid)
	if status != http.StatusOK {
		t.Fatalf("GET /api/v1.0/stats/%s: %d %s", uuid, status, body)
	}
	var history map[string][]struct {
		Timestamp time.Time `json:"timestamp"`
	}
	if err := json.Unmarshal([]byte(body), &history); err != nil || len(history[uuid]) == 0 {
		t.Fatalf("stats of %s: %v %.200s", uuid, err, body)
	}
	samples := history[uuid]
	return samples[len(samples)-1].Timestamp
}

// TestHungGuestsBeyondRequestLimit hangs 6 of 30 running guests, more
// than libvirtd serves requests at once on one connection, on a host that
// may run other domains and other load: every scrape ends within its
// deadline; from the second on, every healthy guest is complete in every
// scrape; the history keeps ticking for every healthy guest; and once the
// hung guests run again, all 30 are complete within 10 s.
func TestHungGuestsBeyondRequestLimit(t *testing.T) {
	exclusive(t)
	names := testbed.Guests(t, faultPrefix, faultGuests)
	testbed.StopWhenDone(t, names)
	stuck, healthy := names[:faultStuck], names[faultStuck:]
	p := Start(t, "--libvirt.uri=qemu:///system", "--libvirt.timeout="+faultTimeout.String())
	before := waitComplete(t, p, names)
	for _, name := range stuck {
		stopGuest(t, name)
	}

	var took []time.Duration
	for i := range 8 {
		body, d := scrape(t, p)
		took = append(took, d)
		if d > scrapeTimeout {
			t.Errorf("scrape %d took %s, past its %s deadline", i+1, d, scrapeTimeout)
		}
		if i > 0 {
			checkComplete(t, fmt.Sprintf("scrape %d", i+1), body, before, healthy...)
		}
		for _, name := range stuck {
			checkNoDrop(t, fmt.Sprintf("scrape %d", i+1), body, before, name)
		}
	}
	t.Logf("with %d of %d guests hung, scrapes took %v", faultStuck, faultGuests, took)

	// The history keeps ticking for every healthy guest.
	uuids := map[string]string{}
	for _, name := range healthy {
		uuids[name] = testbed.Virsh(t, "domuuid", name)
	}
	from := newestSamples(t, p)
	deadline := time.Now().Add(10 * time.Second)
	for {
		now, behind := newestSamples(t, p), ""
		for _, name := range healthy {
			if now[uuids[name]].Sub(from[uuids[name]]) < 2*time.Second {
				behind = name
				break
			}
		}
		if behind == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with %d guests hung, %s's history did not advance by 2 s in 10 s (from %s to %s)", faultStuck, behind,
				from[uuids[behind]].Format(time.RFC3339Nano), now[uuids[behind]].Format(time.RFC3339Nano))
		}
		time.Sleep(500 * time.Millisecond)
	}

	for _, name := range stuck {
		contGuest(t, name)
	}
	resumed := time.Now()
	deadline = resumed.Add(10 * time.Second)
	for {
		body, _ := scrape(t, p)
		problem := ""
		for _, name := range names {
			if problem = incomplete(body, before, name); problem != "" {
				break
			}
		}
		if problem == "" {
			t.Logf("all %d guests complete %s after the hung ones resumed", faultGuests, time.Since(resumed).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the hung guests resumed: %s", problem)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// newestSamples is the time of every VM's newest history sample, by uuid.
func newestSamples(t *testing.T, p *Process) map[string]time.Time {
	t.Helper()
	status, body := p.Get(t, "/api/v1.0/stats/")
	if status != http.StatusOK {
		t.Fatalf("GET /api/v1.0/stats/: %d %.200s", status, body)
	}
	var history map[string][]struct {
		Timestamp time.Time `json:"timestamp"`
	}
	if err := json.Unmarshal([]byte(body), &history); err != nil {
		t.Fatalf("stats: %v %.200s", err, body)
	}
	newest := map[string]time.Time{}
	for uuid, samples := range history {
		if len(samples) > 0 {
			newest[uuid] = samples[len(samples)-1].Timestamp
		}
	}
	return newest
}

// exclusive holds the test bed alone, saying how long that took to get.
func exclusive(t *testing.T) {
	start := time.Now()
	testbed.Exclusive(t)
	t.Logf("held the test bed alone after %s", time.Since(start).Round(time.Millisecond))
}

// stopGuest sends SIGSTOP to a guest's QEMU, and SIGCONT when the test ends
// whatever happens.
func stopGuest(t *testing.T, name string) {
	t.Helper()
	pid := qemuPID(t, name)
	if err := exec.Command("kill", "-STOP", pid).Run(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("kill", "-CONT", pid).Run() })
}

func contGuest(t *testing.T, name string) {
	t.Helper()
	if err := exec.Command("kill", "-CONT", qemuPID(t, name)).Run(); err != nil {
		t.Fatal(err)
	}
}

func qemuPID(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("pgrep", "-f", "guest="+name+",").Output()
	pids := strings.Fields(string(out))
	if err != nil || len(pids) != 1 {
		t.Fatalf("finding the QEMU of %s: %v %q", name, err, out)
	}
	return pids[0]
}

// scrape fetches /metrics as Prometheus does, announcing scrapeTimeout.
func scrape(t *testing.T, p *Process) (string, time.Duration) {
	t.Helper()
	req, _ := http.NewRequest("GET", p.URL("/metrics"), nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", strconv.Itoa(int(scrapeTimeout/time.Second)))
	client := &http.Client{Timeout: 3 * scrapeTimeout}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s %v\n%s", resp.Status, err, body)
	}
	return string(body), took
}

// scrapeDuration is the median of a few scrapes: what a scrape normally
// costs on this (busy) machine.
func scrapeDuration(t *testing.T, p *Process) time.Duration {
	var times []time.Duration
	for range 5 {
		_, took := scrape(t, p)
		times = append(times, took)
	}
	slices.Sort(times)
	return times[len(times)/2]
}

// series maps each sample line's name{labels} to its value.
func series(body string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		m[line[:i]] = line[i+1:]
	}
	return m
}

// domainSeries are the series of one domain.
func domainSeries(body, name string) map[string]string {
	m := map[string]string{}
	label := `domain="` + name + `"`
	for k, v := range series(body) {
		if strings.Contains(k, label) {
			m[k] = v
		}
	}
	return m
}

func value(body, name string) string { return series(body)[name] }

// incomplete says what a domain misses compared with a complete scrape,
// or "" if nothing.
func incomplete(body string, complete map[string]map[string]string, name string) string {
	now := domainSeries(body, name)
	var missing []string
	for k := range complete[name] {
		if _, ok := now[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return fmt.Sprintf("%s lacks %d series, e.g. %s", name, len(missing), missing[0])
	}
	if v := now[`libvirt_domain_timed_out{domain="`+name+`"}`]; v != "0" {
		return fmt.Sprintf("%s has libvirt_domain_timed_out %q", name, v)
	}
	return ""
}

func checkComplete(t *testing.T, what, body string, complete map[string]map[string]string, names ...string) {
	t.Helper()
	for _, name := range names {
		if problem := incomplete(body, complete, name); problem != "" {
			t.Errorf("%s: %s", what, problem)
		}
	}
}

// checkStuck: the hung guest is reported, and none of its counters fell.
func checkStuck(t *testing.T, what, body string, complete map[string]map[string]string, name string) {
	t.Helper()
	if v := domainSeries(body, name)[`libvirt_domain_timed_out{domain="`+name+`"}`]; v != "1" {
		t.Errorf("%s: libvirt_domain_timed_out of the hung %s is %q, want 1", what, name, v)
	}
	checkNoDrop(t, what, body, complete, name)
}

// checkNoDrop: every counter of the domain is absent or not below what a
// complete scrape before showed (a hung guest's counters cannot move on).
func checkNoDrop(t *testing.T, what, body string, complete map[string]map[string]string, name string) {
	t.Helper()
	now := domainSeries(body, name)
	for k, was := range complete[name] {
		if !strings.Contains(k, "_total{") {
			continue
		}
		v, ok := now[k]
		if !ok {
			continue
		}
		before, _ := strconv.ParseFloat(was, 64)
		after, _ := strconv.ParseFloat(v, 64)
		if after < before {
			t.Errorf("%s: counter %s of hung %s fell from %s to %s", what, k, name, was, v)
		}
	}
}

// waitComplete waits until a scrape has every guest complete (the same
// series as in a scrape before, none timed out) and returns its series.
func waitComplete(t *testing.T, p *Process, names []string) map[string]map[string]string {
	t.Helper()
	// What "complete" is: the series of a scrape in which no guest timed out
	// and which has the same set of series as the scrape before it.
	deadline := time.Now().Add(60 * time.Second)
	var last map[string]map[string]string
	for {
		body, _ := scrape(t, p)
		cur := map[string]map[string]string{}
		ok := value(body, "libvirt_up") == "1"
		for _, name := range names {
			cur[name] = domainSeries(body, name)
			ok = ok && cur[name][`libvirt_domain_timed_out{domain="`+name+`"}`] == "0"
		}
		if ok && last != nil && sameKeys(cur, last) {
			return cur
		}
		if !ok {
			cur = nil
		}
		if time.Now().After(deadline) {
			t.Fatalf("guests %v did not all report complete statistics within 60s; last scrape:\n%s", names, strings.Join(metricLines(body, "libvirt_up", "libvirt_domain_timed_out"), "\n"))
		}
		last = cur
		time.Sleep(500 * time.Millisecond)
	}
}

func sameKeys(a, b map[string]map[string]string) bool {
	for name := range a {
		if len(a[name]) != len(b[name]) {
			return false
		}
		for k := range a[name] {
			if _, ok := b[name][k]; !ok {
				return false
			}
		}
	}
	return true
}

// TestHungGuestRetriesLeaveLibvirtdWorkers: vadvisor retries a domain that
// a NOWAIT call skipped with a call that waits in libvirtd for the
// domain's job, on one of the worker threads libvirtd shares among all its
// clients (domstats' jobWait and maxWaiting). 10 of 14 guests hang with
// their jobs held (by calls of another client that hang in their
// monitors), so that vadvisor finds all 10 skipped from its first reading
// on, while its connection keeps being cut (as when hung calls make it
// redial): libvirtd must keep free workers all along.
func TestHungGuestRetriesLeaveLibvirtdWorkers(t *testing.T) {
	exclusive(t)
	names := testbed.Guests(t, faultPrefix, 14)
	testbed.StopWhenDone(t, names)
	hung := names[:10]
	for _, name := range hung {
		stopGuest(t, name)
		testbed.StartVirsh(t, "domstats", "--nowait", name)
	}
	held := waitBusyWorkers(t, len(hung))

	proxy := testbed.NewProxy(t, libvirtconn.ReadOnlySocket)
	p := Start(t, "--libvirt.uri=qemu:///system?socket="+proxy.Path, "--libvirt.timeout="+faultTimeout.String(),
		"--libvirt.domain-include="+faultPrefix+"([1-9]|1[0-4])", "--history.interval=250ms")
	waitUp(t, p, "1")
	// At most 3 retries wait (maxWaiting), and at most MaxInFlight calls
	// of vadvisor's are under way.
	limit := held + 3 + libvirtconn.MaxInFlight
	most := 0
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); {
		time.Sleep(700 * time.Millisecond)
		proxy.Drop()
		most = max(most, libvirtdBusyWorkers(t))
	}
	t.Logf("with %d guests hung (%d busy libvirtd workers) and vadvisor's connection cut every 700 ms, libvirtd had at most %d busy workers (limit %d)", len(hung), held, most, limit)
	if most > limit {
		t.Errorf("libvirtd had %d busy workers, more than %d: vadvisor's retries pile up in libvirtd", most, limit)
	}
}

// waitBusyWorkers waits until libvirtd has at least n busy workers, and
// returns how many.
func waitBusyWorkers(t *testing.T, n int) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		busy := libvirtdBusyWorkers(t)
		if busy >= n {
			return busy
		}
		if time.Now().After(deadline) {
			t.Fatalf("libvirtd has %d busy workers after 20 s, want at least %d", busy, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// libvirtdBusyWorkers is how many of libvirtd's workers serve a call now
// (virt-admin), counting calls queued for a free worker.
func libvirtdBusyWorkers(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("virt-admin", "srv-threadpool-info", "libvirtd").CombinedOutput()
	if err != nil {
		t.Fatalf("virt-admin srv-threadpool-info libvirtd: %v\n%s", err, out)
	}
	v := map[string]int{}
	for _, line := range strings.Split(string(out), "\n") {
		if key, val, ok := strings.Cut(line, ":"); ok {
			v[strings.TrimSpace(key)], _ = strconv.Atoi(strings.TrimSpace(val))
		}
	}
	return v["nWorkers"] - v["freeWorkers"] + v["jobQueueDepth"]
}
