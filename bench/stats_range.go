package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"time"

	"github.com/vadvisor/vadvisor/api"
	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/history"
	"github.com/vadvisor/vadvisor/internal/fakevm"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
)

var (
	rangeVMs  = flag.Int("range-vms", 100, "stats-range part: fake VMs in the history")
	rangeRuns = flag.Int("range-runs", 20, "stats-range part: requests per row, plain and gzipped each")
)

// rangeSamples is an hour at the default interval, 1 s.
const rangeSamples = 3600

// statsRangeResult is the stats-range part: the stats API's answers over
// a full hour of history of fake VMs, served in this process.
type statsRangeResult struct {
	failed  string
	fill    time.Duration // recording the hour
	rows    []rangeRow
	vmCount int
}

type rangeRow struct {
	name           string
	samples        int
	plain, gzipped time.Duration // medians
	bytes, gzBytes int64
}

func statsRangePart() *statsRangeResult {
	r := &statsRangeResult{vmCount: *rangeVMs}
	h, err := history.New(domstats.NewReader(nil, domstats.SampleGroups), time.Second, time.Hour, slog.New(slog.DiscardHandler))
	if err != nil {
		r.failed = err.Error()
		return r
	}
	logf("stats-range: recording an hour of %d fake VMs", *rangeVMs)
	begin := time.Now()
	newest := begin.Truncate(time.Minute)
	ids := fakevm.Record(h, *rangeVMs, rangeSamples, newest)
	r.fill = time.Since(begin)
	runtime.GC() // not in the first row's time: the garbage of the recording
	mux := http.NewServeMux()
	api.NewStats(h, nil, slog.New(slog.DiscardHandler)).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	hour := "start_time=" + url.QueryEscape(newest.Add(-time.Hour).Format(time.RFC3339Nano))
	one := "/api/v1.0/stats/" + libvirtval.UUIDString(ids[0])
	cases := []struct{ name, path string }{
		{"one VM, the last 60 s (no start_time)", one},
		{"one VM, the hour", one + "?" + hour},
		{"one VM, the hour at step=60s", one + "?" + hour + "&step=60s"},
		{"every VM, the last 60 s (no start_time)", "/api/v1.0/stats/"},
		{"every VM, the hour at step=60s", "/api/v1.0/stats/?" + hour + "&step=60s"},
	}
	// A first pass over every row warms up the server and the client:
	// measured first, a small answer took twice as long.
	for _, c := range cases {
		for _, gz := range []bool{false, true} {
			if _, _, _, err := getRange(srv.URL+c.path, gz); err != nil {
				r.failed = err.Error()
				return r
			}
		}
	}
	for _, c := range cases {
		row, err := timeRange(srv.URL+c.path, c.name)
		if err != nil {
			r.failed = err.Error()
			return r
		}
		r.rows = append(r.rows, row)
	}
	return r
}

// timeRange requests url -range-runs times plain and as many gzipped, in
// turn, and keeps the median times and the sizes.
func timeRange(url, name string) (rangeRow, error) {
	row := rangeRow{name: name}
	var plain, gzipped []time.Duration
	for range max(*rangeRuns, 1) {
		for _, gz := range []bool{false, true} {
			took, size, samples, err := getRange(url, gz)
			if err != nil {
				return row, err
			}
			if gz {
				gzipped, row.gzBytes = append(gzipped, took), size
			} else {
				plain, row.bytes, row.samples = append(plain, took), size, samples
			}
		}
	}
	row.plain, _ = percentiles(plain)
	row.gzipped, _ = percentiles(gzipped)
	return row, nil
}

// rangeClient leaves a gzipped body as it comes, to count its bytes.
var rangeClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

// getRange times one request to the last body byte; unzipped, it counts
// the samples (their "timestamp" keys) too.
func getRange(url string, gz bool) (took time.Duration, size int64, samples int, err error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return 0, 0, 0, err
	}
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	start := time.Now()
	resp, err := rangeClient.Do(req)
	if err != nil {
		return 0, 0, 0, err
	}
	defer resp.Body.Close()
	var body []byte
	if body, err = io.ReadAll(resp.Body); err != nil {
		return 0, 0, 0, err
	}
	took = time.Since(start)
	if resp.StatusCode != http.StatusOK {
		return 0, 0, 0, fmt.Errorf("GET %s: %s %.200s", url, resp.Status, body)
	}
	if !gz {
		samples = bytes.Count(body, []byte(`"timestamp":`))
	}
	return took, int64(len(body)), samples, nil
}

func (r *statsRangeResult) write(w *report) {
	w.Heading(2, "Stats ranges")
	if r.failed != "" {
		w.Para("Failed: %s.", r.failed)
		return
	}
	w.Para("An hour of history (%d samples at 1 s) of %d fake VMs with two vCPUs, disks and NICs each, recorded in %s. "+
		"Served in process over loopback; the median of %d requests each, plain and gzipped, timed to the last byte.",
		rangeSamples, r.vmCount, r.fill.Round(time.Millisecond), max(*rangeRuns, 1))
	var rows [][]string
	for _, row := range r.rows {
		rows = append(rows, []string{row.name, strconv.Itoa(row.samples), ms(row.plain), strconv.FormatInt(row.bytes, 10),
			ms(row.gzipped), strconv.FormatInt(row.gzBytes, 10)})
	}
	w.Table([]string{"request", "samples", "median", "bytes", "median, gzip", "bytes, gzip"}, rows)
}
