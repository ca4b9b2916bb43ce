package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/collector"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

// The scrape part: vadvisor's /metrics against the raw libvirt calls and
// the Debian exporter, and the history and stats API.

// result is one measured subject.
type result struct {
	name           string
	median, p99    time.Duration
	bytes          int
	cpuPerScrape   time.Duration // the exporter's own CPU
	libvirtdCPU    time.Duration // libvirtd's CPU per scrape
	rssKiB         int
	skipped        string
	each           []time.Duration // the rounds' medians, when there were rounds
	floor          *result         // what the ratio is against
	peerComparison *result
}

// scrapeResult is the scrape part: the rows of its table, the two
// vadvisor rows its targets judge, and the stats API.
type scrapeResult struct {
	rows               []*result
	vadvReal, vadvTest *result
	api                *apiResult
}

// scrapePart measures the scrapes and the stats API.
func scrapePart(bin, nodeURI string) (*scrapeResult, error) {
	groups := collector.Defaults().StatsGroups()

	var rows []*result
	// Real guests: every domain of the system connection, as both exporters
	// see them all.
	rawReal, count, err := rawBulk(systemURI, groups, false)
	if err != nil {
		return nil, err
	}
	// Side by side: the two exporters take turns, round by round.
	var vadvRounds, peerRounds []*result
	for round := range *scrapeRounds {
		logf("real guests, round %d of %d", round+1, *scrapeRounds)
		vadvRounds = append(vadvRounds, scrapeExporter("vadvisor", bin, []string{"--libvirt.uri=" + systemURI}, *scrapes / *scrapeRounds))
		peerRounds = append(peerRounds, scrapeExporter(debianPeer, debianPeer, []string{"--libvirt.uri=" + systemURI}, *scrapes / *scrapeRounds))
	}
	vadvReal, peerReal := medianRound(vadvRounds), medianRound(peerRounds)
	vadvReal.floor = rawReal
	peerReal.floor = rawReal
	vadvReal.peerComparison = peerReal
	rawReal.name = fmt.Sprintf("raw bulk call (%d domains)", count)
	vadvReal.name = fmt.Sprintf("vadvisor /metrics (%d domains)", count)
	peerReal.name = fmt.Sprintf("%s /metrics (%d domains)", debianPeer, count)
	rows = append(rows, rawReal, vadvReal, peerReal)

	rawTest, count, err := rawBulk(nodeURI, groups, true)
	if err != nil {
		return nil, err
	}
	rawTest.name = fmt.Sprintf("raw list+bulk calls (%d test domains)", count)
	vadvTest := scrapeExporter("vadvisor", bin, []string{"--libvirt.uri=" + nodeURI}, *scrapes)
	vadvTest.name = fmt.Sprintf("vadvisor /metrics (%d test domains)", count)
	vadvTest.floor = rawTest
	rows = append(rows, rawTest, vadvTest)

	return &scrapeResult{rows: rows, vadvReal: vadvReal, vadvTest: vadvTest, api: statsAPI(bin)}, nil
}

// rawBulk times the bulk stats call alone (with the domain listing first
// when list is set), through go-libvirt on one connection: the floor.
func rawBulk(uri string, groups libvirt.DomainStatsTypes, list bool) (*result, int, error) {
	conn, err := libvirtconn.New(uri, 30*time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go conn.Run(ctx)
	wait, cancelWait := context.WithTimeout(ctx, 10*time.Second)
	defer cancelWait()
	l, err := conn.WaitConnected(wait)
	if err != nil {
		return nil, 0, fmt.Errorf("connecting to %s: %w", uri, err)
	}
	count := 0
	once := func() error {
		if list {
			if _, _, err := l.ConnectListAllDomains(1, 0); err != nil {
				return err
			}
		}
		recs, err := l.ConnectGetAllDomainStats(nil, uint32(groups), uint32(libvirt.ConnectGetAllDomainsStatsNowait))
		count = len(recs)
		return err
	}
	for range 5 {
		if err := once(); err != nil {
			return nil, 0, err
		}
	}
	var times []time.Duration
	daemonBefore := procCPU(libvirtdPID())
	for range *scrapes {
		start := time.Now()
		if err := once(); err != nil {
			return nil, 0, err
		}
		times = append(times, time.Since(start))
	}
	r := &result{libvirtdCPU: (procCPU(libvirtdPID()) - daemonBefore) / time.Duration(*scrapes)}
	r.median, r.p99 = percentiles(times)
	return r, count, nil
}

// scrapeExporter starts an exporter on a free port, warms it up and times
// sequential scrapes; CPU and RSS come from /proc.
func scrapeExporter(label, bin string, args []string, scrapes int) *result {
	r := &result{}
	if _, err := exec.LookPath(bin); err != nil {
		r.skipped = "not installed"
		return r
	}
	addr, err := freeAddr()
	if err != nil {
		r.skipped = err.Error()
		return r
	}
	cmd := exec.Command(bin, append([]string{"--web.listen-address=" + addr}, args...)...)
	if err := cmd.Start(); err != nil {
		r.skipped = err.Error()
		return r
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	url := "http://" + addr + "/metrics"
	if err := waitListening(addr); err != nil {
		r.skipped = err.Error()
		return r
	}
	logf("warming up %s %s", label, strings.Join(args, " "))
	// vadvisor reads the hypervisor version in the background once per
	// connection (libvirtd takes seconds for it): let that and the caches
	// settle before measuring.
	warmUntil := time.Now().Add(6 * time.Second)
	for time.Now().Before(warmUntil) {
		if _, err := scrapeOnce(url); err != nil {
			r.skipped = err.Error()
			return r
		}
		time.Sleep(200 * time.Millisecond)
	}
	logf("measuring %s: %d scrapes", label, scrapes)
	var times []time.Duration
	cpuBefore, daemonBefore := procCPU(cmd.Process.Pid), procCPU(libvirtdPID())
	for range scrapes {
		start := time.Now()
		n, err := scrapeOnce(url)
		if err != nil {
			r.skipped = err.Error()
			return r
		}
		times = append(times, time.Since(start))
		r.bytes = n
	}
	n := time.Duration(scrapes)
	r.cpuPerScrape = (procCPU(cmd.Process.Pid) - cpuBefore) / n
	r.libvirtdCPU = (procCPU(libvirtdPID()) - daemonBefore) / n
	r.rssKiB = procRSS(cmd.Process.Pid)
	r.median, r.p99 = percentiles(times)
	return r
}

// medianRound is the round with the median of the rounds' medians, its
// p99 the median of their p99s; a skipped round stands for them all.
func medianRound(rounds []*result) *result {
	for _, r := range rounds {
		if r.skipped != "" {
			return r
		}
	}
	slices.SortFunc(rounds, func(a, b *result) int { return cmp.Compare(a.median, b.median) })
	m := *rounds[len(rounds)/2]
	var p99s []time.Duration
	for _, r := range rounds {
		p99s = append(p99s, r.p99)
		m.each = append(m.each, r.median)
	}
	m.p99 = median(p99s)
	return &m
}

// apiResult is the history side of vadvisor: the sampler's cost while
// nobody asks anything, and the stats API's response times.
type apiResult struct {
	skipped          string
	idleCPUPerSecond time.Duration
	history, live    *result
}

func statsAPI(bin string) *apiResult {
	a := &apiResult{}
	addr, err := freeAddr()
	if err != nil {
		a.skipped = err.Error()
		return a
	}
	cmd := exec.Command(bin, "--web.listen-address="+addr, "--libvirt.uri="+systemURI)
	if err := cmd.Start(); err != nil {
		a.skipped = err.Error()
		return a
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if err := waitListening(addr); err != nil {
		a.skipped = err.Error()
		return a
	}
	base := "http://" + addr + "/api/v1.0/stats"
	resp, err := http.Get(base)
	if err != nil {
		a.skipped = err.Error()
		return a
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		a.skipped = fmt.Sprintf("/api/v1.0/stats answers %d: not built yet", resp.StatusCode)
		return a
	}
	// Fill the history (60 one-second samples by default), then measure the
	// process's CPU over an idle stretch: the sampler's cost per second.
	logf("filling the history for 65 s")
	time.Sleep(55 * time.Second)
	before := procCPU(cmd.Process.Pid)
	const idle = 10 * time.Second
	time.Sleep(idle)
	a.idleCPUPerSecond = (procCPU(cmd.Process.Pid) - before) / time.Duration(idle/time.Second)
	a.history = timeGets(cmd.Process.Pid, base)
	a.live = timeGets(cmd.Process.Pid, base+"?live=true")
	return a
}

func timeGets(pid int, url string) *result {
	r := &result{}
	var times []time.Duration
	n := max(*scrapes/4, 10)
	before := procCPU(pid)
	for range n {
		start := time.Now()
		size, err := scrapeOnce(url)
		if err != nil {
			r.skipped = err.Error()
			return r
		}
		times = append(times, time.Since(start))
		r.bytes = size
	}
	r.cpuPerScrape = (procCPU(pid) - before) / time.Duration(n)
	r.rssKiB = procRSS(pid)
	r.median, r.p99 = percentiles(times)
	return r
}

// scrapeOnce fetches url as Prometheus does (gzip) and returns the size of
// the uncompressed body.
func scrapeOnce(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return int(n), nil
}
