package api

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/history"
)

// syntheticHistory holds vms VMs x samples samples, each VM with two
// vCPUs, two interfaces and two disks.
func syntheticHistory(b *testing.B, vms, samples int) (*history.History, []libvirt.UUID) {
	h, err := history.New(domstats.NewReader(nil, domstats.SampleGroups), time.Second, time.Duration(samples)*time.Second, nil)
	if err != nil {
		b.Fatal(err)
	}
	doms := make([]domstats.Domain, vms)
	ids := make([]libvirt.UUID, vms)
	t0 := time.Now().Add(-time.Duration(samples) * time.Second)
	for s := range samples {
		n := uint64(s) * 1000
		for i := range doms {
			ids[i] = libvirt.UUID{byte(i >> 8), byte(i), 0x42}
			d := domstats.Domain{Name: fmt.Sprintf("vm%d", i), UUID: ids[i], ID: int32(i + 1), State: val(1),
				CPUTime: val(123456789 + n), CPUUser: val(1e8 + n), CPUSystem: val(2e7 + n),
				Balloon: domstats.Balloon{Current: val(1048576), Maximum: val(2097152), RSS: val(612340 + n)}}
			for k := range 2 {
				d.VCPUs = append(d.VCPUs, domstats.VCPU{State: val(1), Time: val(5e9 + n)})
				d.Nets = append(d.Nets, domstats.Net{Name: fmt.Sprintf("tap%d-%d", i, k), RxBytes: val(n * 1500), RxPkts: val(n),
					RxErrs: val(0), RxDrop: val(0), TxBytes: val(n * 900), TxPkts: val(n), TxErrs: val(0), TxDrop: val(0)})
				d.Blocks = append(d.Blocks, domstats.Block{Name: fmt.Sprintf("vd%c", 'a'+k), RdReqs: val(n), RdBytes: val(n * 4096),
					RdTimes: val(n * 97464), WrReqs: val(n), WrBytes: val(n * 4096), WrTimes: val(n * 1e5), FlReqs: val(n),
					FlTimes: val(n * 1e4), Allocation: val(1 << 30), Capacity: val(10 << 30), Physical: val(1 << 30)})
			}
			doms[i] = d
		}
		h.Record(&domstats.Reading{Time: t0.Add(time.Duration(s) * time.Second), Domains: doms})
	}
	return h, ids
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
	mux := http.NewServeMux()
	NewStats(h, nil, nil).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	for _, c := range []struct {
		name string
		path string
		gzip bool
	}{
		{"all", "/api/v1.0/stats/", false},
		{"all-gzip", "/api/v1.0/stats/", true},
		{"one-uuid", "/api/v1.0/stats/" + domstats.UUIDString(ids[500]), false},
	} {
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
