// Command bench measures vadvisor's /metrics scrape against the floor (the
// raw libvirt calls it makes, through go-libvirt alone) and against the
// Debian prometheus-libvirt-exporter, on real TCG guests and on a
// 1000-domain test-driver node, and prints a Markdown table.
//
//	go run ./bench [-guests 30] [-domains 1000] [-scrapes 100] [-keep]
//
// It needs root and a machine where scripts/testbed.sh can run libvirtd.
// Figures on a shared machine are noisy: read the ratios.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/collector"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

const (
	guestPrefix = "vadv-b"
	systemURI   = "qemu:///system"
	debianPeer  = "prometheus-libvirt-exporter"
)

var (
	guests  = flag.Int("guests", 30, "tiny real TCG guests to run ("+guestPrefix+"1..N)")
	domains = flag.Int("domains", 1000, "domains of the test-driver node")
	scrapes = flag.Int("scrapes", 100, "measured scrapes (or calls) per subject")
	keep    = flag.Bool("keep", false, "leave the benchmark guests running afterwards")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// result is one measured subject.
type result struct {
	name           string
	median, p99    time.Duration
	bytes          int
	cpuPerScrape   time.Duration // the exporter's own CPU
	libvirtdCPU    time.Duration // libvirtd's CPU per scrape
	rssKiB         int
	skipped        string
	floor          *result // what the ratio is against
	peerComparison *result
}

func run() error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	// Share the test bed as tests do, so that no test restarts libvirtd or
	// stops guests under the measurement.
	lock, err := os.OpenFile("/run/vadvisor-testbed.lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_SH); err != nil {
		return err
	}
	logf("starting libvirtd and %d guests", *guests)
	if err := command(root, "bash", "scripts/testbed.sh", guestPrefix, strconv.Itoa(*guests)); err != nil {
		return err
	}
	if !*keep {
		defer stopGuests()
	}
	version := libvirtVersion()
	dir, err := os.MkdirTemp("", "vadvisor-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// libvirtd reads the node file itself.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	bin := filepath.Join(dir, "vadvisor")
	logf("building vadvisor (no -race)")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	nodeURI, err := writeNode(dir, *domains)
	if err != nil {
		return err
	}
	groups := collector.Defaults().StatsGroups()

	var rows []*result
	// Real guests: every domain of the system connection, as both exporters
	// see them all.
	rawReal, count, err := rawBulk(systemURI, groups, false)
	if err != nil {
		return err
	}
	vadvReal := scrapeExporter("vadvisor", bin, []string{"--libvirt.uri=" + systemURI})
	vadvReal.floor = rawReal
	peerReal := scrapeExporter(debianPeer, debianPeer, []string{"--libvirt.uri=" + systemURI})
	peerReal.floor = rawReal
	vadvReal.peerComparison = peerReal
	rawReal.name = fmt.Sprintf("raw bulk call (%d domains)", count)
	vadvReal.name = fmt.Sprintf("vadvisor /metrics (%d domains)", count)
	peerReal.name = fmt.Sprintf("%s /metrics (%d domains)", debianPeer, count)
	rows = append(rows, rawReal, vadvReal, peerReal)

	rawTest, count, err := rawBulk(nodeURI, groups, true)
	if err != nil {
		return err
	}
	rawTest.name = fmt.Sprintf("raw list+bulk calls (%d test domains)", count)
	vadvTest := scrapeExporter("vadvisor", bin, []string{"--libvirt.uri=" + nodeURI})
	vadvTest.name = fmt.Sprintf("vadvisor /metrics (%d test domains)", count)
	vadvTest.floor = rawTest
	rows = append(rows, rawTest, vadvTest)

	api := statsAPI(bin)

	printReport(version, rows, api, vadvReal, vadvTest)
	return nil
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
func scrapeExporter(label, bin string, args []string) *result {
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
	logf("measuring %s: %d scrapes", label, *scrapes)
	var times []time.Duration
	cpuBefore, daemonBefore := procCPU(cmd.Process.Pid), procCPU(libvirtdPID())
	for range *scrapes {
		start := time.Now()
		n, err := scrapeOnce(url)
		if err != nil {
			r.skipped = err.Error()
			return r
		}
		times = append(times, time.Since(start))
		r.bytes = n
	}
	n := time.Duration(*scrapes)
	r.cpuPerScrape = (procCPU(cmd.Process.Pid) - cpuBefore) / n
	r.libvirtdCPU = (procCPU(libvirtdPID()) - daemonBefore) / n
	r.rssKiB = procRSS(cmd.Process.Pid)
	r.median, r.p99 = percentiles(times)
	return r
}

// apiResult is the history side of vadvisor: the sampler's cost while
// nobody asks anything, and the stats API's response times.
type apiResult struct {
	skipped             string
	idleCPUPerSecond    time.Duration
	history, live       *result
	historyDomainsCount string
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

func printReport(version string, rows []*result, api *apiResult, real, test *result) {
	host, _ := os.Hostname()
	fmt.Printf("Measured %s on %s: %s, %d cores, %s; %s; %d scrapes per subject, sequential.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), host, cpuModel(), runtime.NumCPU(), memTotal(), version, *scrapes)
	fmt.Println("| subject | median | p99 | vs floor (median) | bytes | exporter CPU/scrape | libvirtd CPU/scrape | RSS |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		if r.skipped != "" {
			fmt.Printf("| %s | skipped: %s | | | | | | |\n", r.name, r.skipped)
			continue
		}
		ratio := "floor"
		if r.floor != nil && r.floor.median > 0 {
			ratio = fmt.Sprintf("%.2fx", ratioOf(r.median, r.floor.median))
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.name, ms(r.median), ms(r.p99), ratio,
			dash(r.bytes, func(b int) string { return fmt.Sprintf("%d", b) }), cpu(r.cpuPerScrape, r.bytes > 0),
			ms(r.libvirtdCPU), dash(r.rssKiB, func(k int) string { return fmt.Sprintf("%.1f MiB", float64(k)/1024) }))
	}
	fmt.Println()
	if api.skipped != "" {
		fmt.Printf("History and stats API: skipped (%s).\n\n", api.skipped)
	} else {
		fmt.Printf("History sampler (qemu:///system, default 1 s interval, full 60 s history): %s CPU per second while idle.\n\n", ms(api.idleCPUPerSecond))
		fmt.Println("| request | median | p99 | bytes | exporter CPU/request |")
		fmt.Println("|---|---:|---:|---:|---:|")
		for _, x := range []struct {
			name string
			r    *result
		}{{"GET /api/v1.0/stats (history)", api.history}, {"GET /api/v1.0/stats?live=true", api.live}} {
			if x.r.skipped != "" {
				fmt.Printf("| %s | failed: %s | | | |\n", x.name, x.r.skipped)
				continue
			}
			fmt.Printf("| %s | %s | %s | %d | %s |\n", x.name, ms(x.r.median), ms(x.r.p99), x.r.bytes, ms(x.r.cpuPerScrape))
		}
		fmt.Println()
	}
	fmt.Println("Targets:")
	target := func(ok bool, text string) {
		mark := "MET"
		if !ok {
			mark = "MISSED"
		}
		fmt.Printf("- %s: %s\n", mark, text)
	}
	if test.skipped == "" && test.floor.skipped == "" {
		r := ratioOf(test.median, test.floor.median)
		target(r <= 3, fmt.Sprintf("test domains: scrape within 3x of raw list+bulk (%.2fx)", r))
		target(test.median < 50*time.Millisecond, fmt.Sprintf("test domains: scrape under 50 ms (median %s, p99 %s)", ms(test.median), ms(test.p99)))
	}
	if real.skipped == "" && real.floor.skipped == "" {
		r := ratioOf(real.median, real.floor.median)
		target(r <= 1.3, fmt.Sprintf("real guests: scrape within 1.3x of the raw bulk call (%.2fx)", r))
		if p := real.peerComparison; p != nil && p.skipped == "" {
			target(real.median < p.median, fmt.Sprintf("real guests: faster than %s (%s vs %s, %.2fx)", debianPeer, ms(real.median), ms(p.median), ratioOf(p.median, real.median)))
		}
	}
}

func ratioOf(a, b time.Duration) float64 { return float64(a) / float64(b) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func cpu(d time.Duration, measured bool) string {
	if !measured {
		return "-"
	}
	return ms(d)
}

func dash(v int, f func(int) string) string {
	if v == 0 {
		return "-"
	}
	return f(v)
}

func percentiles(times []time.Duration) (median, p99 time.Duration) {
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	i99 := (len(times)*99+99)/100 - 1
	return times[len(times)/2], times[min(i99, len(times)-1)]
}

// procCPU is the user+system CPU time a process has used (0 if gone).
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil || pid <= 0 {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th fields, in clock ticks (100 per second on Linux).
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func procRSS(pid int) int {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kib
		}
	}
	return 0
}

func libvirtdPID() int {
	out, _ := exec.Command("pgrep", "-xo", "libvirtd").Output()
	pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return pid
}

func libvirtVersion() string {
	out, _ := exec.Command("virsh", "-c", systemURI, "version").Output()
	var parts []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "Using library:") || strings.HasPrefix(line, "Running hypervisor:") {
			parts = append(parts, strings.TrimSpace(line[strings.IndexByte(line, ':')+1:]))
		}
	}
	return strings.Join(parts, ", ")
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "model name") {
			return strings.TrimSpace(line[strings.IndexByte(line, ':')+1:])
		}
	}
	return runtime.GOARCH
}

func memTotal() string {
	data, _ := os.ReadFile("/proc/meminfo")
	var kib int
	fmt.Sscanf(string(data), "MemTotal: %d kB", &kib)
	return fmt.Sprintf("%.0f GiB RAM", float64(kib)/(1<<20))
}

// writeNode writes a test-driver node file of n domains and returns its URI.
func writeNode(dir string, n int) (string, error) {
	var b strings.Builder
	b.WriteString("<node>\n")
	for i := range n {
		fmt.Fprintf(&b, `<domain type='test'><name>bench%d</name><uuid>%08x-0000-4000-8000-%012x</uuid>
<memory unit='KiB'>%d</memory><vcpu>%d</vcpu><os><type>hvm</type></os>
<devices><disk type='file' device='disk'><source file='/guest/bench%d.img'/><target dev='vda' bus='virtio'/></disk>
<interface type='bridge'><source bridge='br0'/><target dev='tst%d'/><mac address='52:54:00:%02x:%02x:%02x'/><model type='virtio'/></interface></devices>
</domain>
`, i, i, i, 1048576+i, 1+i%4, i, i, (i>>16)&0xff, (i>>8)&0xff, i&0xff)
	}
	b.WriteString("</node>\n")
	path := filepath.Join(dir, "node.xml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return "", err
	}
	return "test+unix://" + path, nil
}

func stopGuests() {
	for i := 1; i <= *guests; i++ {
		exec.Command("virsh", "-c", systemURI, "destroy", fmt.Sprintf("%s%d", guestPrefix, i)).Run()
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitListening(addr string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s", addr)
}

func command(dir, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, os.Stderr, os.Stderr
	return cmd.Run()
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
