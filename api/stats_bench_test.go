package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/history"
	"github.com/vadvisor/vadvisor/internal/fakevm"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
)

// syntheticHistory holds vms VMs x samples samples, one a second, each
// VM with two vCPUs, two interfaces and two disks.
func syntheticHistory(b *testing.B, vms, samples int) (*history.History, []libvirt.UUID) {
	h, err := history.New(domstats.NewReader(nil, domstats.SampleGroups), time.Second, time.Duration(samples)*time.Second, nil)
	if err != nil {
		b.Fatal(err)
	}
	return h, fakevm.Record(h, vms, samples, time.Now().Truncate(time.Minute))
}

// timeResponse reports the time to the first body byte and to the last.
func timeResponse(b *testing.B, client *http.Client, url string, gzip bool) (first, total time.Duration, size int64) {
	req, _ := http.NewRequest("GET", url, nil)
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("%s: %s", url, resp.Status)
	}
	one := make([]byte, 1)
	if _, err := io.ReadFull(resp.Body, one); err != nil {
		b.Fatal(err)
	}
	first = time.Since(start)
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	return first, time.Since(start), n + 1
}

// BenchmarkStats1000x60 serves the full history of 1000 VMs x 60 samples
// and one VM's, plain and gzipped.
func BenchmarkStats1000x60(b *testing.B) {
	h, ids := syntheticHistory(b, 1000, 60)
	benchStats(b, h, []statsCase{
		{"all", "/api/v1.0/stats/", false},
		{"all-gzip", "/api/v1.0/stats/", true},
		{"one-uuid", "/api/v1.0/stats/" + libvirtval.UUIDString(ids[500]), false},
	})
}

// BenchmarkStatsHour serves ranges of an hour of 100 VMs' history: one
// VM's hour, and every VM's hour at step=60s.
func BenchmarkStatsHour(b *testing.B) {
	h, ids := syntheticHistory(b, 100, 3600)
	hour := "start_time=" + url.QueryEscape(h.Newest().Add(-time.Hour).Format(time.RFC3339Nano))
	one := "/api/v1.0/stats/" + libvirtval.UUIDString(ids[0]) + "?" + hour
	benchStats(b, h, []statsCase{
		{"one-vm-hour", one, false},
		{"one-vm-hour-gzip", one, true},
		{"all-hour-step60s", "/api/v1.0/stats/?" + hour + "&step=60s", false},
		{"all-hour-step60s-gzip", "/api/v1.0/stats/?" + hour + "&step=60s", true},
	})
}

type statsCase struct {
	name string
	path string
	gzip bool
}

// benchStats times each case's request to h's stats.
func benchStats(b *testing.B, h *history.History, cases []statsCase) {
	mux := http.NewServeMux()
	NewStats(h, nil, nil).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var first, total time.Duration
			var size int64
			for b.Loop() {
				f, t, n := timeResponse(b, client, srv.URL+c.path, c.gzip)
				first, total, size = first+f, total+t, n
			}
			b.ReportMetric(float64(first.Microseconds())/1000/float64(b.N), "ms-first-byte")
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-total")
			b.ReportMetric(float64(size), "body-bytes")
		})
	}
}

// BenchmarkAppendSample writes one sample of a VM with two vCPUs,
// interfaces and disks.
func BenchmarkAppendSample(b *testing.B) {
	h, ids := syntheticHistory(b, 1, 1)
	var (
		d domstats.Domain
		t time.Time
		n int
	)
	h.Range(ids[0], history.Query{}, func(at time.Time, got *domstats.Domain) bool {
		t, d, n = at, *got, n+1
		return true
	})
	if n != 1 {
		b.Fatalf("%d samples", n)
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = appendSample(buf[:0], t, &d)
	}
}
