package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/history"
	"github.com/vadvisor/vadvisor/internal/fakevm"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
)

// rangeNewest is the newest sample of the range tests: on a whole hour of
// Unix time, so every step window's boundary falls on a whole second.
var rangeNewest = time.Date(2026, 11, 23, 19, 0, 0, 0, time.UTC)

// rangeServer serves a history kept for an hour at 1 s, holding two fake
// VMs sampled at these offsets (in seconds) from rangeNewest.
func rangeServer(t *testing.T, offsets []int) (string, []string) {
	t.Helper()
	h, err := history.New(domstats.NewReader(nil, domstats.SampleGroups), time.Second, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	fleet := fakevm.New(2)
	for _, s := range offsets {
		h.Record(fleet.Reading(rangeNewest.Add(time.Duration(s) * time.Second)))
	}
	mux := http.NewServeMux()
	NewStats(h, nil, nil).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	var ids []string
	for _, id := range fleet.UUIDs() {
		ids = append(ids, libvirtval.UUIDString(id))
	}
	return srv.URL, ids
}

// seconds lists the offsets from first to last, every step seconds.
func seconds(first, last, step int) []int {
	var s []int
	for i := first; i <= last; i += step {
		s = append(s, i)
	}
	return s
}

// at is the query value of the time offset seconds from rangeNewest.
func at(offset float64) string {
	return url.QueryEscape(rangeNewest.Add(time.Duration(offset * float64(time.Second))).Format(time.RFC3339Nano))
}

// offsetsOf turns samples' timestamps into offsets from rangeNewest.
func offsetsOf(t *testing.T, samples []sampleJSON) []int {
	t.Helper()
	var out []int
	for _, s := range samples {
		ts, err := time.Parse(time.RFC3339Nano, s.Timestamp)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, int(ts.Sub(rangeNewest)/time.Second))
	}
	return out
}

// checkRange asks both paths, every VM's and one VM's, and wants the
// samples at these offsets for each VM; with none, the first leaves the
// VMs out and the second has an empty array.
func checkRange(t *testing.T, base string, ids []string, query string, want []int) {
	t.Helper()
	all := getStats(t, base+"/api/v1.0/stats/?"+query)
	one := getStats(t, base+"/api/v1.0/stats/"+ids[1]+"?"+query)
	if len(want) == 0 {
		if len(all) != 0 || len(one) != 1 || one[ids[1]] == nil || len(one[ids[1]]) != 0 {
			t.Errorf("?%s: %d VMs, and %v for one, want none and an empty array", query, len(all), one)
		}
		return
	}
	if len(all) != len(ids) || len(one) != 1 {
		t.Errorf("?%s: %d VMs, %d for one uuid, want %d and 1", query, len(all), len(one), len(ids))
	}
	for name, got := range map[string][]sampleJSON{"every VM's, the first": all[ids[0]], "every VM's, the second": all[ids[1]], "one VM's": one[ids[1]]} {
		if offsets := offsetsOf(t, got); !slices.Equal(offsets, want) {
			t.Errorf("?%s, %s: %d samples at %v s from the newest, want %d at %v", query, name, len(offsets), abbrev(offsets), len(want), abbrev(want))
		}
	}
}

// abbrev shortens a long list of offsets for a message.
func abbrev(s []int) string {
	if len(s) <= 8 {
		return fmt.Sprint(s)
	}
	return fmt.Sprintf("%v ... %v", s[:4], s[len(s)-4:])
}

// An hour of samples, one a second: a request without start_time still
// gets the last 60 s; start_time, end_time and step select within it.
func TestStatsRange(t *testing.T) {
	base, ids := rangeServer(t, seconds(-3599, 0, 1))
	for _, c := range []struct {
		name, query string
		want        []int
	}{
		{"the last 60 s by default", "", seconds(-59, 0, 1)},
		{"live=false is the same", "live=false", seconds(-59, 0, 1)},
		{"end_time only: the 60 s before it", "end_time=" + at(-600), seconds(-659, -600, 1)},
		{"end_time between samples", "end_time=" + at(-600.5), seconds(-660, -601, 1)},
		{"start_time only: up to the newest", "start_time=" + at(-120), seconds(-120, 0, 1)},
		{"both ends included", "start_time=" + at(-3000) + "&end_time=" + at(-2990), seconds(-3000, -2990, 1)},
		{"start_time = end_time", "start_time=" + at(-5) + "&end_time=" + at(-5), []int{-5}},
		{"an offset", "start_time=" + url.QueryEscape(rangeNewest.Add(-3*time.Second).In(time.FixedZone("", 3600)).Format(time.RFC3339)), seconds(-3, 0, 1)},
		{"end_time after the newest", "start_time=" + at(-10) + "&end_time=" + at(3600), seconds(-10, 0, 1)},
		{"end_time only, after the newest by over 60 s", "end_time=" + at(61), nil},
		{"start_time before the retention", "start_time=" + at(-7200), seconds(-3599, 0, 1)},
		{"years 1 to 9999", "start_time=0001-01-01T00:00:00Z&end_time=9999-12-31T23:59:59Z", seconds(-3599, 0, 1)},
		{"start_time after the newest", "start_time=" + at(1), nil},
		{"end_time before the oldest", "end_time=" + at(-3600), nil},
		{"step of the interval", "step=1s", seconds(-59, 0, 1)},
		{"step of 10 s over the last 60 s", "step=10s", seconds(-50, 0, 10)},
		{"an hour at step=60s", "start_time=" + at(-3600) + "&step=60s", seconds(-3540, 0, 60)},
		{"step=1m means 60s", "start_time=" + at(-3600) + "&step=1m", seconds(-3540, 0, 60)},
		{"a partial last window ends at end_time", "start_time=" + at(-25) + "&end_time=" + at(-2) + "&step=10s", []int{-20, -10, -2}},
		{"step=90s on Unix time", "start_time=" + at(-300) + "&step=1m30s", []int{-270, -180, -90, 0}},
		{"step=1.5s", "start_time=" + at(-5) + "&step=1500ms", []int{-5, -3, -2, 0}},
		{"a step longer than the range", "step=24h", []int{0}},
	} {
		t.Run(c.name, func(t *testing.T) { checkRange(t, base, ids, c.query, c.want) })
	}
}

// A step window without a sample (the sampler missed ticks) gives none:
// nothing is made up to fill it.
func TestStatsStepOverGap(t *testing.T) {
	base, ids := rangeServer(t, append(seconds(-600, -400, 1), seconds(-240, 0, 1)...))
	checkRange(t, base, ids, "start_time="+at(-600)+"&step=60s", []int{-600, -540, -480, -420, -400, -240, -180, -120, -60, 0})
}

// end_time after the newest sample ends at it, so that samples recorded
// while the answer is written come in the next; start_time defaults to
// 60 s before end_time, exclusive.
func TestStatsQueryBounds(t *testing.T) {
	newest := rangeNewest
	for _, c := range []struct {
		name             string
		req              statsRequest
		newest, from, to time.Time
	}{
		{"defaults", statsRequest{}, newest, newest.Add(-time.Minute + 1), newest},
		{"end_time after the newest", statsRequest{start: newest.Add(-time.Hour), end: newest.Add(time.Hour)}, newest, newest.Add(-time.Hour), newest},
		{"end_time only", statsRequest{end: newest.Add(-time.Hour)}, newest, newest.Add(-time.Hour - time.Minute + 1), newest.Add(-time.Hour)},
		{"nothing recorded yet", statsRequest{}, time.Time{}, time.Unix(0, 0), time.Time{}},
	} {
		q, problem := c.req.query(c.newest, time.Second)
		if problem != "" || !q.From.Equal(c.from) || !q.To.Equal(c.to) {
			t.Errorf("%s: from %s to %s (%q), want from %s to %s", c.name, q.From, q.To, problem, c.from, c.to)
		}
	}
}

// Every bad value is a 400 whose JSON error names the parameter.
func TestStatsRangeBadValues(t *testing.T) {
	base, ids := rangeServer(t, seconds(-59, 0, 1))
	for _, c := range []struct{ query, names string }{
		{"start_time=yesterday", "start_time"},
		{"start_time=", "start_time"},
		{"end_time=2026-11-23", "end_time"},
		{"end_time=", "end_time"},
		{"end_time=2026-11-23T19:00:00Z&end_time=2026-11-23T19:01:00Z", "end_time"},
		{"start_time=" + at(-10) + "&end_time=" + at(-20), "start_time, end_time"},
		{"step=10", "step"},
		{"step=", "step"},
		{"step=ten", "step"},
		{"step=0s", "step"},
		{"step=-10s", "step"},
		{"step=99999999999h", "step"},
		{"step=999ms", "step, 1s"},
		{"step=10s&step=20s", "step"},
		{"live=true&step=10s", "step, live"},
		{"live=true&end_time=" + at(0), "end_time, live"},
		{"live=true&start_time=" + at(0), "start_time, live"},
		{"steps=10s", "steps, live, start_time, end_time, step"},
	} {
		for _, path := range []string{"/api/v1.0/stats/", "/api/v1.0/stats/" + ids[0]} {
			resp, body := get(t, base+path+"?"+c.query)
			var e struct{ Error string }
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &e) != nil {
				t.Errorf("%s?%s: %s %.200s, want 400 with a JSON error", path, c.query, resp.Status, body)
				continue
			}
			for name := range strings.SplitSeq(c.names, ", ") {
				if !strings.Contains(e.Error, name) {
					t.Errorf("%s?%s: error %q does not name %s", path, c.query, e.Error, name)
				}
			}
		}
	}
}
