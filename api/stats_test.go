package api

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/domxml"
	"github.com/vadvisor/vadvisor/events"
	"github.com/vadvisor/vadvisor/history"
	"github.com/vadvisor/vadvisor/internal/testbed"
)

// Samples as API.md has them. Pointers tell null from 0; decoding
// disallows unknown fields, so a renamed field fails.
type sampleJSON struct {
	Timestamp string `json:"timestamp"`
	Name      string `json:"name"`
	State     string `json:"state"`
	CPU       struct {
		Usage struct {
			CPUTime    *float64 `json:"cpu_time"`
			UserTime   *float64 `json:"user_time"`
			SystemTime *float64 `json:"system_time"`
		} `json:"usage"`
		PerCPU []struct {
			Index    int      `json:"index"`
			State    *string  `json:"state"`
			VCPUTime *float64 `json:"vcpu_time"`
		} `json:"per_cpu_usage"`
	} `json:"cpu"`
	Memory struct {
		Actual     *uint64 `json:"actual"`
		RSS        *uint64 `json:"rss"`
		SwapIn     *uint64 `json:"swap_in"`
		SwapOut    *uint64 `json:"swap_out"`
		MajorFault *uint64 `json:"major_fault"`
		MinorFault *uint64 `json:"minor_fault"`
		Usable     *uint64 `json:"usable"`
		Unused     *uint64 `json:"unused"`
		Available  *uint64 `json:"available"`
		DiskCaches *uint64 `json:"disk_caches"`
	} `json:"memory"`
	Balloon struct {
		Current *uint64 `json:"current"`
		Maximum *uint64 `json:"maximum"`
	} `json:"balloon"`
	Network struct {
		Interfaces []struct {
			Name      string  `json:"name"`
			RxBytes   *uint64 `json:"rx_bytes"`
			RxPackets *uint64 `json:"rx_packets"`
			RxErrors  *uint64 `json:"rx_errors"`
			RxDropped *uint64 `json:"rx_dropped"`
			TxBytes   *uint64 `json:"tx_bytes"`
			TxPackets *uint64 `json:"tx_packets"`
			TxErrors  *uint64 `json:"tx_errors"`
			TxDropped *uint64 `json:"tx_dropped"`
		} `json:"interfaces"`
	} `json:"network"`
	DiskIO []struct {
		Name       string  `json:"name"`
		RdReqs     *uint64 `json:"rd_reqs"`
		RdBytes    *uint64 `json:"rd_bytes"`
		RdTimes    *uint64 `json:"rd_times"`
		WrReqs     *uint64 `json:"wr_reqs"`
		WrBytes    *uint64 `json:"wr_bytes"`
		WrTimes    *uint64 `json:"wr_times"`
		FlReqs     *uint64 `json:"fl_reqs"`
		FlTimes    *uint64 `json:"fl_times"`
		Allocation *uint64 `json:"allocation"`
		Capacity   *uint64 `json:"capacity"`
		Physical   *uint64 `json:"physical"`
	} `json:"diskio"`
}

var timestampRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$`)

const guestPrefix = "vadv-h"

type bed struct {
	url       string
	interval  time.Duration
	retention time.Duration
	history   *history.History
	events    *events.Store // kept for 2h, empty
}

// newBed serves the stats and specs of the real test bed, with a history
// of 20 samples, or of minRetention if that is longer.
func newBed(t *testing.T, minRetention time.Duration) *bed {
	t.Helper()
	conn := testbed.Conn(t, testbed.SystemURI)
	interval := testbed.SampleInterval(t, conn, domstats.SampleGroups)
	reader := domstats.NewReader(conn, domstats.SampleGroups)
	retention := max(20*interval, minRetention)
	h, err := history.New(reader, interval, retention, testbed.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	testbed.RunUntilCleanup(t, h.Run)
	store := newEventStore(t, 2*time.Hour)
	mux := http.NewServeMux()
	NewStats(h, reader, testbed.Logger(t)).Register(mux)
	NewSpecs(conn, domxml.New(conn), testbed.Logger(t)).Register(mux)
	NewHost(conn, reader, h, store).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &bed{url: srv.URL, interval: interval, retention: retention, history: h, events: store}
}

func newEventStore(t *testing.T, retention time.Duration) *events.Store {
	t.Helper()
	store, err := events.NewStore(retention, 100)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func getStats(t *testing.T, url string) map[string][]sampleJSON {
	t.Helper()
	resp, body := get(t, url)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %s %s: %s", url, resp.Status, resp.Header.Get("Content-Type"), body)
	}
	return decodeStats(t, body)
}

func decodeStats(t *testing.T, body []byte) map[string][]sampleJSON {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var out map[string][]sampleJSON
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("decoding %.300s: %v", body, err)
	}
	return out
}

func uuidOf(t *testing.T, name string) string {
	return testbed.Virsh(t, "domuuid", name)
}

func TestStats(t *testing.T) {
	names := testbed.Guests(t, guestPrefix, 2)
	b := newBed(t, 0)
	// The history holds 20 samples once full; wait for most of them (a
	// busy host may skip a tick).
	var all map[string][]sampleJSON
	deadline := time.Now().Add(60*b.interval + 30*time.Second)
	for full := false; !full; {
		time.Sleep(b.interval)
		all = getStats(t, b.url+"/api/v1.0/stats/")
		full = true
		for _, name := range names {
			full = full && len(all[uuidOf(t, name)]) >= 17
		}
		if !full && time.Now().After(deadline) {
			t.Fatalf("the history did not fill up to 17 samples of each guest by %s", deadline.Format(time.TimeOnly))
		}
	}
	if noSlash := getStats(t, b.url+"/api/v1.0/stats"); len(noSlash) != len(all) {
		t.Errorf("/stats has %d VMs, /stats/ %d", len(noSlash), len(all))
	}
	for _, name := range names {
		id := uuidOf(t, name)
		samples := all[id]
		if len(samples) < 17 || len(samples) > 20 {
			t.Errorf("%s: %d samples, want about 20", name, len(samples))
			continue
		}
		var prev time.Time
		var prevCPU float64
		for i, s := range samples {
			at, err := time.Parse(time.RFC3339Nano, s.Timestamp)
			if err != nil || !timestampRE.MatchString(s.Timestamp) {
				t.Fatalf("%s: timestamp %q is not RFC 3339 UTC with nanoseconds", name, s.Timestamp)
			}
			if i > 0 && (!at.After(prev) || *s.CPU.Usage.CPUTime < prevCPU) {
				t.Errorf("%s: sample %d not after the one before, or cpu time fell", name, i)
			}
			prev, prevCPU = at, *s.CPU.Usage.CPUTime
		}
		last := samples[len(samples)-1]
		checkGuestSample(t, name, last)
	}

	t.Run("one uuid", func(t *testing.T) {
		id := uuidOf(t, names[1])
		one := getStats(t, b.url+"/api/v1.0/stats/"+strings.ToUpper(id))
		if len(one) != 1 || len(one[id]) < 2 {
			t.Fatalf("got %d VMs, %d samples of %s", len(one), len(one[id]), names[1])
		}
	})

	t.Run("live", func(t *testing.T) {
		before := getStats(t, b.url+"/api/v1.0/stats/")
		live := getStats(t, b.url+"/api/v1.0/stats/?live=true")
		for _, name := range names {
			id := uuidOf(t, name)
			if len(live[id]) != 1 {
				t.Fatalf("%s: %d live samples, want 1", name, len(live[id]))
			}
			hist := before[id]
			if live[id][0].Timestamp <= hist[len(hist)-1].Timestamp {
				t.Errorf("%s: live sample at %s, not newer than the history's last %s", name, live[id][0].Timestamp, hist[len(hist)-1].Timestamp)
			}
			checkGuestSample(t, name, live[id][0])
		}
		for id, s := range live {
			if len(s) != 1 {
				t.Errorf("VM %s has %d live samples", id, len(s))
			}
		}
		id := uuidOf(t, names[0])
		one := getStats(t, b.url+"/api/v1.0/stats/"+id+"?live=true")
		if len(one) != 1 || len(one[id]) != 1 {
			t.Fatalf("live for one VM: %d VMs, %d samples", len(one), len(one[id]))
		}
		if past := getStats(t, b.url+"/api/v1.0/stats/?live=false"); len(past[id]) < 2 {
			t.Fatalf("live=false gave %d samples, not the history", len(past[id]))
		}
	})

	t.Run("start_time", func(t *testing.T) {
		id := uuidOf(t, names[0])
		hist := getStats(t, b.url+"/api/v1.0/stats/")[id]
		from := hist[len(hist)-5].Timestamp
		for _, path := range []string{"/api/v1.0/stats/", "/api/v1.0/stats/" + id} {
			got := getStats(t, b.url+path+"?start_time="+from)
			if len(got[id]) < 5 || got[id][0].Timestamp != from || got[id][4].Timestamp != hist[len(hist)-1].Timestamp {
				t.Errorf("%s?start_time=%s: %d samples, want the last 5 of the history (the last at %s) and any newer", path, from, len(got[id]), hist[len(hist)-1].Timestamp)
			}
			for vm, samples := range got {
				if len(samples) == 0 || samples[0].Timestamp < from {
					t.Errorf("%s?start_time=%s: VM %s has %d samples, from before it or none", path, from, vm, len(samples))
				}
			}
		}
		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		if got := getStats(t, b.url+"/api/v1.0/stats/?start_time="+future); len(got) != 0 {
			t.Errorf("start_time in the future: %d VMs, want none", len(got))
		}
		if got := getStats(t, b.url+"/api/v1.0/stats/"+id+"?start_time="+future); len(got) != 1 || len(got[id]) != 0 {
			t.Errorf("start_time in the future for one VM: %v, want it with no samples", got)
		}
		// Following the history: each answer starts where the last ended,
		// and none misses a sample the full history has.
		seen := map[string]bool{}
		newest := hist[len(hist)-1].Timestamp
		for range 4 {
			time.Sleep(b.interval)
			got := getStats(t, b.url+"/api/v1.0/stats/?start_time="+newest)
			for _, s := range got[id] {
				seen[s.Timestamp] = true
				newest = max(newest, s.Timestamp)
			}
		}
		for _, s := range getStats(t, b.url+"/api/v1.0/stats/")[id] {
			if s.Timestamp >= hist[len(hist)-1].Timestamp && s.Timestamp <= newest && !seen[s.Timestamp] {
				t.Errorf("following the history missed the sample at %s", s.Timestamp)
			}
		}
	})

	t.Run("end_time and step", func(t *testing.T) {
		id := uuidOf(t, names[0])
		hist := getStats(t, b.url+"/api/v1.0/stats/"+id+"?start_time=1970-01-01T00:00:00Z")[id]
		if len(hist) < 10 {
			t.Fatalf("%d samples in the history, want 10 or more", len(hist))
		}
		// From a few samples in (none ages out meanwhile) to a few ago, the
		// last sample of each window of 3 intervals of Unix time.
		step := 3 * b.interval
		window := func(s sampleJSON) int64 {
			at, _ := time.Parse(time.RFC3339Nano, s.Timestamp)
			return (at.UnixNano() - 1) / int64(step)
		}
		span := hist[3 : len(hist)-2]
		var want []string
		for i, s := range span {
			if i == len(span)-1 || window(s) != window(span[i+1]) {
				want = append(want, s.Timestamp)
			}
		}
		query := "?start_time=" + span[0].Timestamp + "&end_time=" + span[len(span)-1].Timestamp + "&step=" + step.String()
		var got []string
		for _, s := range getStats(t, b.url+"/api/v1.0/stats/"+id+query)[id] {
			got = append(got, s.Timestamp)
		}
		if !slices.Equal(got, want) || len(got) < 2 {
			t.Errorf("%s: %v, want the last sample of each %s window: %v", query, got, step, want)
		}
	})

	t.Run("gzip", func(t *testing.T) {
		req, _ := http.NewRequest("GET", b.url+"/api/v1.0/stats/", nil)
		req.Header.Set("Accept-Encoding", "deflate, gzip;q=0.8")
		resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeStats(t, body); len(got[uuidOf(t, names[0])]) < 17 {
			t.Fatal("the gzipped history lacks the guest's samples")
		}
		req.Header.Set("Accept-Encoding", "gzip;q=0")
		resp2, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp2.Body.Close()
		if resp2.Header.Get("Content-Encoding") != "" {
			t.Fatal("gzip sent although the client refused it with q=0")
		}
	})
}

// checkGuestSample compares a sample with what virsh says of the guest.
func checkGuestSample(t *testing.T, name string, s sampleJSON) {
	t.Helper()
	if s.Name != name || s.State != "Running" {
		t.Errorf("%s: name %q state %q", name, s.Name, s.State)
	}
	if len(s.DiskIO) != 1 || s.DiskIO[0].Name != "vda" || s.DiskIO[0].Capacity == nil || *s.DiskIO[0].Capacity != 33554432 {
		t.Errorf("%s: diskio %+v, want vda of 33554432 bytes", name, s.DiskIO)
	} else if s.DiskIO[0].RdReqs == nil || *s.DiskIO[0].RdReqs == 0 || s.DiskIO[0].RdTimes == nil {
		t.Errorf("%s: vda read counters missing (SeaBIOS reads the disk)", name)
	}
	tap := strings.Fields(strings.Split(testbed.Virsh(t, "domiflist", name), "\n")[2])[0]
	if len(s.Network.Interfaces) != 1 || s.Network.Interfaces[0].Name != tap || s.Network.Interfaces[0].RxBytes == nil {
		t.Errorf("%s: interfaces %+v, want %s", name, s.Network.Interfaces, tap)
	}
	if s.Balloon.Current == nil || *s.Balloon.Current != 32768 || s.Memory.Actual == nil || *s.Memory.Actual != 32768 {
		t.Errorf("%s: balloon %+v memory %+v, want 32768 KiB", name, s.Balloon, s.Memory)
	}
	m := s.Memory
	for f, v := range map[string]*uint64{"swap_in": m.SwapIn, "swap_out": m.SwapOut, "major_fault": m.MajorFault, "minor_fault": m.MinorFault,
		"usable": m.Usable, "unused": m.Unused, "available": m.Available, "disk_caches": m.DiskCaches} {
		if v != nil {
			t.Errorf("%s: memory.%s %d, but a guest without a balloon driver reports none", name, f, *v)
		}
	}
	vcpus, _ := strconv.Atoi(testbed.Virsh(t, "vcpucount", name, "--current", "--live"))
	if len(s.CPU.PerCPU) != vcpus {
		t.Errorf("%s: %d vCPUs, virsh says %d", name, len(s.CPU.PerCPU), vcpus)
	}
	for i, c := range s.CPU.PerCPU {
		if c.Index != i || c.State == nil || *c.State != "Running" || c.VCPUTime == nil {
			t.Errorf("%s: vcpu %d: %+v", name, i, c)
		}
	}
	// CPU time in ms: virsh, asked afterwards, has at least as much in ns,
	// and not orders of magnitude more.
	var ns float64
	for line := range strings.SplitSeq(testbed.Virsh(t, "domstats", "--cpu-total", name), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "cpu.time="); ok {
			ns, _ = strconv.ParseFloat(v, 64)
		}
	}
	if ms := *s.CPU.Usage.CPUTime; ms <= 0 || ms > ns/1e6 || ms < ns/1e6/2 {
		t.Errorf("%s: cpu_time %v ms, virsh says %v ns", name, ms, ns)
	}
}

// A destroyed guest's history stays until it ages out; a started one
// appears at the next tick.
func TestStoppedAndStartedGuest(t *testing.T) {
	name := testbed.Guests(t, guestPrefix+"d", 1)[0]
	id := uuidOf(t, name)
	t.Cleanup(func() {
		if !strings.Contains(testbed.Virsh(t, "domstate", name), "running") {
			testbed.Virsh(t, "start", name)
		}
	})
	// A retention long enough that the guest's history outlives virsh
	// destroy, which takes 1 to 2 s here.
	b := newBed(t, 8*time.Second)
	retention := b.retention
	statusOf := func(query string) int {
		resp, _ := get(t, b.url+"/api/v1.0/stats/"+id+query)
		return resp.StatusCode
	}
	waitStatus := func(what, query string, want int, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for statusOf(query) != want {
			if time.Since(start) > within {
				t.Fatalf("%s: not after %s", what, within)
			}
			time.Sleep(b.interval / 10)
		}
		return time.Since(start)
	}
	waitStatus("guest in history", "", 200, 5*b.interval+5*time.Second)

	destroyStart := time.Now()
	testbed.Virsh(t, "destroy", name)
	t.Logf("virsh destroy took %s", time.Since(destroyStart))
	if got := statusOf("?live=true"); got != http.StatusNotFound {
		t.Errorf("live stats of a stopped guest: %d, want 404", got)
	}
	// The history lasts until its newest sample, taken while the guest ran,
	// is older than the retention (on a loaded machine that sample may be
	// older than the stop: ticks that get no reading record nothing).
	time.Sleep(b.interval * 3)
	samples := getStats(t, b.url+"/api/v1.0/stats/"+id)[id]
	if len(samples) == 0 {
		t.Fatalf("history of the stopped guest gone at once")
	}
	newest, err := time.Parse(time.RFC3339Nano, samples[len(samples)-1].Timestamp)
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(newest.Add(retention)) > 2*b.interval {
		time.Sleep(time.Until(newest.Add(retention)) - 2*b.interval)
		if got := statusOf(""); got != 200 {
			t.Fatalf("history gone %s after its newest sample, before the %s retention: %d", time.Since(newest), retention, got)
		}
	}
	waitStatus("history of the stopped guest to age out", "", http.StatusNotFound, time.Until(newest.Add(retention))+5*b.interval)

	testbed.Virsh(t, "start", name)
	took := waitStatus("started guest in history", "", 200, 10*b.interval)
	t.Logf("started guest in the history after %s (interval %s)", took, b.interval)
	if took > 3*b.interval {
		t.Errorf("started guest appeared after %s, not at the next tick of %s", took, b.interval)
	}
}

func TestBadRequests(t *testing.T) {
	testbed.Guests(t, guestPrefix, 1)
	b := newBed(t, 0)
	id := uuidOf(t, guestPrefix+"1")
	huge := strings.Repeat("a", 100000)
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/api/v1.0/stats/not-a-uuid", 400},
		{"GET", "/api/v1.0/stats/" + strings.ReplaceAll(id, "-", ""), 400},
		{"GET", "/api/v1.0/stats/" + id + "0", 400},
		{"GET", "/api/v1.0/stats/" + id[:35], 400},
		{"GET", "/api/v1.0/stats/zzzzzzzz-" + id[9:], 400},
		{"GET", "/api/v1.0/stats/" + id + "/extra", 400},
		{"GET", "/api/v1.0/stats/" + huge, 400},
		{"GET", "/api/v1.0/stats/%00", 400},
		{"GET", "/api/v1.0/stats/00000000-0000-4000-8000-000000000000", 404},
		{"GET", "/api/v1.0/stats/00000000-0000-4000-8000-000000000000?live=true", 404},
		{"GET", "/api/v1.0/stats/?live=yes", 400},
		{"GET", "/api/v1.0/stats/?live=", 400},
		{"GET", "/api/v1.0/stats/?live=TRUE", 400},
		{"GET", "/api/v1.0/stats/?live=1", 400},
		{"GET", "/api/v1.0/stats/?live=true&live=true", 400},
		{"GET", "/api/v1.0/stats/?lve=true", 400},
		{"GET", "/api/v1.0/stats/?live=%zz", 400},
		{"GET", "/api/v1.0/stats/" + id + "?live=" + huge, 400},
		{"GET", "/api/v1.0/stats/?start_time=yesterday", 400},
		{"GET", "/api/v1.0/stats/?start_time=", 400},
		{"GET", "/api/v1.0/stats/?start_time=2026-01-01T00:00:00Z&start_time=2026-01-02T00:00:00Z", 400},
		{"GET", "/api/v1.0/stats/?live=true&start_time=2026-01-01T00:00:00Z", 400},
		{"GET", "/api/v1.0/host?x=1", 400},
		{"POST", "/api/v1.0/host", 405},
		{"POST", "/api/v1.0/stats/", 405},
		{"DELETE", "/api/v1.0/stats/" + id, 405},
		{"PUT", "/api/v1.0/stats", 405},
		{"POST", "/api/v1.0/specs/", 405},
		{"GET", "/api/v1.0/specs/no-such-domain-here", 404},
		{"GET", "/api/v1.0/specs/00000000-0000-4000-8000-000000000000", 404},
		{"GET", "/api/v1.0/specs/" + huge, 400},
		{"GET", "/api/v1.0/specs/?name=x", 400},
	} {
		req, err := http.NewRequest(c.method, b.url+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct{ Error string }
		label := c.method + " " + c.path
		if len(label) > 80 {
			label = label[:80] + "..."
		}
		if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != "application/json" ||
			json.Unmarshal(body, &e) != nil || e.Error == "" {
			t.Errorf("%s: %s %s %.200s, want %d with a JSON error", label, resp.Status, resp.Header.Get("Content-Type"), body, c.status)
		}
		if c.status == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: Allow %q", label, resp.Header.Get("Allow"))
		}
	}
}

// With libvirt unreachable, live stats and specs answer 503 and the
// history is still served.
func TestLibvirtDown(t *testing.T) {
	conn := testbed.Running(t, "qemu+unix:///system?socket=/nonexistent/libvirt-sock", time.Second)
	reader := domstats.NewReader(conn, domstats.SampleGroups)
	h, err := history.New(reader, time.Second, time.Minute, testbed.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	NewStats(h, reader, testbed.Logger(t)).Register(mux)
	NewSpecs(conn, domxml.New(conn), testbed.Logger(t)).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for path, want := range map[string]int{
		"/api/v1.0/stats/?live=true": 503,
		"/api/v1.0/specs/":           503,
		"/api/v1.0/specs/vm1":        503,
		"/api/v1.0/stats/":           200,
	} {
		resp, body := get(t, srv.URL+path)
		if resp.StatusCode != want || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %s %s", path, resp.Status, body)
		}
		if want == 200 && string(body) != "{}\n" {
			t.Errorf("%s: %q, want an empty history", path, body)
		}
	}
}

// With the history off, its paths answer 409 with a JSON error that says
// so, live readings are served, and /host tells the history is off.
func TestHistoryOff(t *testing.T) {
	names := testbed.Guests(t, guestPrefix, 1)
	conn := testbed.Conn(t, testbed.SystemURI)
	reader := domstats.NewReader(conn, domstats.SampleGroups)
	mux := http.NewServeMux()
	NewStats(nil, reader, testbed.Logger(t)).Register(mux)
	NewHost(conn, reader, nil, newEventStore(t, time.Hour)).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	id := uuidOf(t, names[0])
	for _, path := range []string{"/api/v1.0/stats/", "/api/v1.0/stats", "/api/v1.0/stats/" + id, "/api/v1.0/stats/?live=false", "/api/v1.0/stats/?start_time=2026-01-01T00:00:00Z"} {
		resp, body := get(t, srv.URL+path)
		var e struct{ Error string }
		if resp.StatusCode != http.StatusConflict || resp.Header.Get("Content-Type") != "application/json" ||
			json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, "history is off") {
			t.Errorf("%s: %s %s, want 409 with a JSON error saying the history is off", path, resp.Status, body)
		}
	}
	host := getHost(t, srv.URL)
	if host.History != nil || !host.LibvirtUp {
		t.Errorf("/host: %+v, want libvirt up and the history off (null)", host)
	}
	live := getStats(t, srv.URL+"/api/v1.0/stats/?live=true")
	if len(live[id]) != 1 {
		t.Fatalf("live: %d samples of %s, want 1", len(live[id]), names[0])
	}
	checkGuestSample(t, names[0], live[id][0])
	if host := getHost(t, srv.URL); host.Reading == nil || host.Reading.ActiveDomains < 1 || host.Reading.Domains < host.Reading.ActiveDomains {
		t.Errorf("/host after a live reading: %+v, want its domain counts", host.Reading)
	}
}

func TestHost(t *testing.T) {
	testbed.Guests(t, guestPrefix, 1)
	start := time.Now()
	b := newBed(t, 0)
	time.Sleep(2 * b.interval)
	host := getHost(t, b.url)
	// An empty event history that started with the bed: no event since then.
	if host.Events.RetentionSeconds != 7200 || host.Events.KeptSince.Before(start) || host.Events.KeptSince.After(time.Now()) {
		t.Errorf("/host: events %+v, want a retention of 7200 s, kept since the store began (between %s and now)", host.Events, start.UTC())
	}
	if host.History == nil || host.History.IntervalSeconds != b.interval.Seconds() || host.History.RetentionSeconds != b.retention.Seconds() {
		t.Errorf("/host: history %+v, want interval %s and retention %s", host.History, b.interval, b.retention)
	}
	if !host.LibvirtUp || host.LibvirtURI != testbed.SystemURI || host.Reading == nil || host.Reading.ActiveDomains < 1 {
		t.Errorf("/host: %+v %+v", host, host.Reading)
	}
	if age := time.Since(host.Reading.Timestamp); age < 0 || age > 5*b.interval {
		t.Errorf("/host: the reading is %s old, want the sampler's latest", age)
	}
}

func getHost(t *testing.T, base string) hostJSON {
	t.Helper()
	resp, body := get(t, base+"/api/v1.0/host")
	var h hostJSON
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if resp.StatusCode != 200 || dec.Decode(&h) != nil {
		t.Fatalf("/host: %s %s", resp.Status, body)
	}
	return h
}
