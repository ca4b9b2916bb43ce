// Command bench measures vadvisor on a real libvirtd and prints a Markdown
// report:
//
//	go run ./bench [-only scrape,events,job] [-guests 30] [-domains 1000] [-scrapes 100] [-keep]
//	               [-events 200] [-event-clients 5] [-event-spacing 50ms]
//	               [-job-scrapes 20] [-job-timeout 2s] [-job-delay 10ms] [-job-before REV]
//	               [-range-vms 100] [-range-runs 20]
//
// Its parts, each of which can run alone with -only:
//
//   - scrape: vadvisor's /metrics against the floor (the raw libvirt calls
//     it makes, through go-libvirt alone) and against the Debian
//     prometheus-libvirt-exporter, on real TCG guests and on a 1000-domain
//     test-driver node; the history sampler and the stats API;
//   - events: the delivery latency of lifecycle events to the stream
//     clients of /api/v1.0/events?stream=true, while a guest is hung and
//     /metrics and /api/v1.0/stats/?live=true are read without pause;
//   - job: the job collector's per-domain calls on a 1000-domain
//     test-driver node, bounded to libvirtconn.Workers at a time: every
//     scrape complete, none timed out;
//   - history: the history's bytes per VM-sample and per value, by group
//     of fields, on guests with and without an OS and on the test node,
//     sampled at 1 s for -history-for;
//   - stats-range: /api/v1.0/stats over an hour of fake VMs' history,
//     in process and without libvirt: ranges, steps, sizes.
//
// All but stats-range need root and a machine where scripts/testbed.sh
// can run libvirtd.
// Figures on a shared machine are noisy: read the ratios.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

const (
	guestPrefix = "vadv-b"
	systemURI   = "qemu:///system"
	debianPeer  = "prometheus-libvirt-exporter"
)

var (
	guests       = flag.Int("guests", 30, "tiny real TCG guests to run ("+guestPrefix+"1..N)")
	domains      = flag.Int("domains", 1000, "domains of the test-driver node")
	scrapes      = flag.Int("scrapes", 100, "measured scrapes (or calls) per subject")
	scrapeRounds = flag.Int("scrape-rounds", 5, "scrape part: rounds of the real-guest comparison (the scrapes are shared out among them)")
	keep         = flag.Bool("keep", false, "leave the benchmark guests running afterwards")
	only         = flag.String("only", "", "run only these parts, comma-separated: scrape, cost, events, job, history, stats-range (default: all)")
)

// parts are the benchmark's parts in the order they run.
var parts = []string{"scrape", "cost", "events", "job", "history", "stats-range"}

func main() {
	flag.Parse()
	if *costCall != "" {
		if err := plainCall(*costCall); err != nil {
			fmt.Fprintln(os.Stderr, "bench -cost-call:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func selectedParts() (map[string]bool, error) {
	sel := map[string]bool{}
	if *only == "" {
		for _, p := range parts {
			sel[p] = true
		}
		return sel, nil
	}
	for _, p := range strings.Split(*only, ",") {
		p = strings.TrimSpace(p)
		known := false
		for _, q := range parts {
			known = known || p == q
		}
		if !known {
			return nil, fmt.Errorf("-only: unknown part %q; the parts are %s", p, strings.Join(parts, ", "))
		}
		sel[p] = true
	}
	return sel, nil
}

func run() error {
	sel, err := selectedParts()
	if err != nil {
		return err
	}
	loadStart, start := loadAvg(), time.Now()
	var sections []func(*report)
	version := "no libvirt"
	if sel["scrape"] || sel["cost"] || sel["events"] || sel["job"] || sel["history"] {
		if sections, err = testBedParts(sel); err != nil {
			return err
		}
		version = libvirtVersion()
	}
	if sel["stats-range"] {
		sections = append(sections, statsRangePart().write)
	}

	host, _ := os.Hostname()
	w := &report{}
	w.Heading(1, "vAdvisor benchmark")
	w.Para("Measured %s on %s: %s, %d cores, %s; %s. Load average (/proc/loadavg, 1/5/15 min) %s at the start, %s at the end (%s).",
		start.UTC().Format("2006-01-02 15:04 MST"), host, cpuModel(), runtime.NumCPU(), memTotal(), version,
		loadStart, loadAvg(), time.Since(start).Round(time.Second))
	for _, write := range sections {
		write(w)
	}
	_, err = os.Stdout.WriteString(w.String())
	return err
}

// testBedParts runs the selected parts that need libvirtd (and guests)
// and returns the writers of their sections of the report.
func testBedParts(sel map[string]bool) ([]func(*report), error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	// Share the test bed as tests do, so that no test restarts libvirtd or
	// stops guests under the measurement.
	lock, err := os.OpenFile("/run/vadvisor-testbed.lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_SH); err != nil {
		return nil, err
	}
	// The job part needs libvirtd only, not the guests.
	running := 0
	if sel["scrape"] || sel["cost"] || sel["events"] || sel["history"] {
		running = *guests
	}
	logf("starting libvirtd and %d guests", running)
	if err := command(root, "bash", "scripts/testbed.sh", guestPrefix, strconv.Itoa(running)); err != nil {
		return nil, err
	}
	if running > 0 && !*keep {
		defer stopGuests()
	}
	dir, err := os.MkdirTemp("", "vadvisor-bench")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// libvirtd reads the node file itself.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "vadvisor")
	logf("building vadvisor (no -race)")
	if err := buildVadvisor(root, bin); err != nil {
		return nil, err
	}
	nodeURI, err := testbed.WriteNode(dir, "bench", *domains)
	if err != nil {
		return nil, err
	}

	var sections []func(*report)
	if sel["scrape"] {
		r, err := scrapePart(bin, nodeURI)
		if err != nil {
			return nil, err
		}
		sections = append(sections, r.write)
	}
	if sel["cost"] {
		sections = append(sections, costPart(bin).write)
	}
	if sel["events"] {
		sections = append(sections, eventsPart(bin).write)
	}
	if sel["job"] {
		sections = append(sections, jobPart(root, dir, bin, nodeURI).write)
	}
	if sel["history"] {
		sections = append(sections, historyPart(root, nodeURI).write)
	}
	return sections, nil
}

// buildVadvisor builds the vadvisor of the source tree at dir, as make
// build does (no -race, static).
func buildVadvisor(dir, bin string) error {
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir, build.Env = dir, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build in %s: %v\n%s", dir, err, out)
	}
	return nil
}

// loadAvg is the 1, 5 and 15 minute load averages of /proc/loadavg.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
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
	_, _ = fmt.Sscanf(string(data), "MemTotal: %d kB", &kib)
	return fmt.Sprintf("%.0f GiB RAM", float64(kib)/(1<<20))
}

func stopGuests() {
	for i := 1; i <= *guests; i++ {
		_ = exec.Command("virsh", "-c", systemURI, "destroy", fmt.Sprintf("%s%d", guestPrefix, i)).Run()
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
