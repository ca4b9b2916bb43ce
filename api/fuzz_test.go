package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/history"
	"github.com/vadvisor/vadvisor/internal/fakevm"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

// FuzzEventsQuery: any query string either is refused with a reason or
// gives a request that makes sense; never a panic. Seeds also in
// testdata/fuzz/FuzzEventsQuery.
func FuzzEventsQuery(f *testing.F) {
	for _, seed := range []string{
		"", "stream=true", "all_events=true&max_events=5", "started_events=true&stopped_events=false",
		"start_time=2026-11-23T19:05:34Z&end_time=2026-11-23T20:05:34%2B01:00", "start_time=2026-11-23T19:05:34 01:00",
		"since=18446744073709551615", "max_events=0", "max_events=-1", "stream=yes", "stream=true&max_events=3",
		"%zz", "a=1&a=2", "start_time=2026-11-23T20:00:00Z&end_time=2026-11-23T19:00:00Z",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		req, problem := parseEventsQuery(raw)
		if problem != "" {
			return
		}
		if req.limit < 1 {
			t.Errorf("%q gave a limit of %d", raw, req.limit)
		}
		if !req.start.IsZero() && !req.end.IsZero() && req.start.After(req.end) {
			t.Errorf("%q gave start %s after end %s", raw, req.start, req.end)
		}
		if req.types == 0 {
			t.Errorf("%q selects no event type", raw)
		}
	})
}

// FuzzStatsRequest sends the stats endpoint arbitrary paths and queries
// over a history of three fake VMs (libvirt unreachable): a client error
// is a 4xx with a JSON error, an answer is JSON, and nothing is a 5xx but
// the live reading that cannot be made.
func FuzzStatsRequest(f *testing.F) {
	conn, err := libvirtconn.New("test:///default", time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	reader := domstats.NewReader(conn, domstats.SampleGroups)
	h, err := history.New(reader, time.Second, 2*time.Minute, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	newest := time.Date(2026, 11, 23, 19, 0, 0, 0, time.UTC)
	vm := libvirtval.UUIDString(fakevm.Record(h, 3, 150, newest)[1])
	for _, seed := range [][2]string{
		{"", ""}, {"", "live=true"}, {"", "live=false"}, {"", "live=maybe"}, {"", "live=true&live=false"},
		{"0e1b2c3d-0000-4000-8000-000000000001", ""}, {"0E1B2C3D-0000-4000-8000-00000000000G", ""},
		{"../../etc/passwd", ""}, {"x", "%zz"}, {"0e1b2c3d-0000-4000-8000-000000000001/extra", "live=true"},
		{vm, ""}, {vm, "step=10s"}, {"", "start_time=2026-11-23T18:58:00Z&end_time=2026-11-23T18:59:00Z&step=7s"},
		{vm, "end_time=2026-11-23T18:59:30.5%2B00:00"}, {"", "start_time=2026-11-23T18:59:30 01:00&step=1m30s"},
		{"", "start_time=0001-01-01T00:00:00Z&end_time=9999-12-31T23:59:59.999999999Z"}, {"", "end_time=1677-09-21T00:12:43Z"},
		{"", "step=999ms"}, {"", "step=0"}, {"", "step=-1s"}, {"", "step=9223372036854775807ns"}, {"", "step=1e3s"},
		{vm, "start_time=2026-11-23T19:00:00Z&end_time=2026-11-23T18:00:00Z"}, {"", "live=true&step=1s"},
		{"", "live=true&end_time=2026-11-23T19:00:00Z"}, {"", "step=1s&step=2s"}, {"", "steps=1s"},
	} {
		f.Add(seed[0], seed[1])
	}
	mux := http.NewServeMux()
	NewStats(h, reader, slog.New(slog.DiscardHandler)).Register(mux)
	f.Fuzz(func(t *testing.T, path, query string) {
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/api/v1.0/stats/" + path, RawQuery: query}, Header: http.Header{}}
		r = r.WithContext(t.Context())
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		switch {
		case w.Code == http.StatusServiceUnavailable && r.URL.Query().Get("live") == "true":
		case w.Code >= 500:
			t.Fatalf("GET %s?%s: %d %s", r.URL.Path, query, w.Code, w.Body)
		case w.Code >= 400 && w.Code != http.StatusMovedPermanently:
			var e struct{ Error string }
			if json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error == "" {
				t.Fatalf("GET %s?%s: %d with no JSON error: %q", r.URL.Path, query, w.Code, w.Body)
			}
		case w.Code == http.StatusOK && !json.Valid(w.Body.Bytes()):
			t.Fatalf("GET %s?%s: 200 with a body that is not JSON: %.300q", r.URL.Path, query, w.Body)
		}
	})
}
