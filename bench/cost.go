package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/libvirtconn"
)

// The cost part: what keeping an eye on the guests costs the host. The
// CPU of libvirtd, of every QEMU process and of the client itself (the
// exporter, or this program's own child making a plain call), per second,
// above the same host while nothing watches it; each subject's window is
// judged against the mean of the idle windows just before and after it,
// and each figure is the median over the rounds.

var (
	costWindow = flag.Duration("cost-window", 30*time.Second, "cost part: length of each measured window")
	costRounds = flag.Int("cost-rounds", 3, "cost part: rounds over all subjects (figures are medians)")
	costOnly   = flag.String("cost-subjects", "", "cost part: run only the subjects whose name contains one of these comma-separated words")
	// costCall makes this program the client of a plain subject: it makes
	// the bulk call for these groups once a second until killed.
	costCall   = flag.String("cost-call", "", "internal: make the call of this choice (see callChoices) once a second")
	callWindow = flag.Duration("cost-call-window", 5*time.Second, "cost part: how long each call is made back to back")
	callIdle   = flag.Duration("cost-call-idle", 3*time.Second, "cost part: the idle window before each call's")
)

// statsGroups names the bulk call's groups as virsh domstats does.
var statsGroups = []struct {
	name  string
	group libvirt.DomainStatsTypes
}{
	{"state", libvirt.DomainStatsState},
	{"cpu-total", libvirt.DomainStatsCPUTotal},
	{"balloon", libvirt.DomainStatsBalloon},
	{"vcpu", libvirt.DomainStatsVCPU},
	{"interface", libvirt.DomainStatsInterface},
	{"block", libvirt.DomainStatsBlock},
}

const (
	sixGroups = "state,cpu-total,balloon,vcpu,interface,block"
	// sampleCalls are the calls of a vAdvisor sample reading, made plainly.
	sampleCalls = "state,balloon,interface,block+each:cpustats,vcpus"
)

func parseGroups(list string) (libvirt.DomainStatsTypes, error) {
	var g libvirt.DomainStatsTypes
	for _, name := range strings.Split(list, ",") {
		i := slices.IndexFunc(statsGroups, func(s struct {
			name  string
			group libvirt.DomainStatsTypes
		}) bool {
			return s.name == name
		})
		if i < 0 {
			return 0, fmt.Errorf("unknown stats group %q", name)
		}
		g |= statsGroups[i].group
	}
	return g, nil
}

// plainCall is the child's loop: one NOWAIT bulk call a second, on the
// read-only socket, as `virsh -r domstats --nowait` would make it; or,
// for "each:" and a list of per-domain calls, those calls for every
// running domain, one after the other, once a second.
func plainCall(choice string) error {
	l, err := dialLibvirt(libvirtconn.ReadOnlySocket, systemURI)
	if err != nil {
		return err
	}
	once, err := callFunc(l, choice)
	if err != nil {
		return err
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for range tick.C {
		if err := once(); err != nil {
			return err
		}
	}
	return nil
}

// callFunc makes one bulk call for a list of groups, or the per-domain
// calls of an "each:" list for every running domain.
func callFunc(l *libvirt.Libvirt, choice string) (func() error, error) {
	if first, rest, ok := strings.Cut(choice, "+"); ok { // one after the other
		a, err := callFunc(l, first)
		if err != nil {
			return nil, err
		}
		b, err := callFunc(l, rest)
		if err != nil {
			return nil, err
		}
		return func() error {
			if err := a(); err != nil {
				return err
			}
			return b()
		}, nil
	}
	if calls, ok := strings.CutPrefix(choice, "each:"); ok {
		return perDomainCalls(l, strings.Split(calls, ","))
	}
	groups, err := parseGroups(choice)
	if err != nil {
		return nil, err
	}
	return func() error {
		_, err := l.ConnectGetAllDomainStats(nil, uint32(groups), uint32(libvirt.ConnectGetAllDomainsStatsNowait))
		return err
	}, nil
}

// perDomainCalls makes the named per-domain calls for every running
// domain (their devices as the bulk call names them at the start).
func perDomainCalls(l *libvirt.Libvirt, calls []string) (func() error, error) {
	recs, err := l.ConnectGetAllDomainStats(nil, uint32(libvirt.DomainStatsInterface|libvirt.DomainStatsBlock), uint32(libvirt.ConnectGetAllDomainsStatsActive))
	if err != nil {
		return nil, err
	}
	type dom struct {
		d             libvirt.Domain
		disks, ifaces []string
	}
	var doms []dom
	for _, rec := range recs {
		d := dom{d: rec.Dom}
		for _, p := range rec.Params {
			if v, ok := p.Value.I.(string); ok && strings.HasSuffix(p.Field, ".name") {
				if strings.HasPrefix(p.Field, "block.") {
					d.disks = append(d.disks, v)
				} else {
					d.ifaces = append(d.ifaces, v)
				}
			}
		}
		doms = append(doms, d)
	}
	each := map[string]func(d dom) error{
		"info": func(d dom) error { _, _, _, _, _, err := l.DomainGetInfo(d.d); return err },
		"cpustats": func(d dom) error {
			_, _, err := l.DomainGetCPUStats(d.d, 3, -1, 1, 0)
			return err
		},
		"vcpus": func(d dom) error { _, _, err := l.DomainGetVcpus(d.d, 64, 0); return err },
		"memory": func(d dom) error {
			_, err := l.DomainMemoryStats(d.d, uint32(libvirt.DomainMemoryStatNr), 0)
			return err
		},
		"blockstats": func(d dom) error {
			for _, disk := range d.disks {
				if _, _, err := l.DomainBlockStatsFlags(d.d, disk, 16, 0); err != nil {
					return err
				}
			}
			return nil
		},
		"iface": func(d dom) error {
			for _, n := range d.ifaces {
				if _, _, _, _, _, _, _, _, err := l.DomainInterfaceStats(d.d, n); err != nil {
					return err
				}
			}
			return nil
		},
	}
	var fns []func(d dom) error
	for _, c := range calls {
		fn, ok := each[c]
		if !ok {
			return nil, fmt.Errorf("unknown per-domain call %q", c)
		}
		fns = append(fns, fn)
	}
	return func() error {
		for _, d := range doms {
			for _, fn := range fns {
				if err := fn(d); err != nil {
					return fmt.Errorf("%s: %w", d.d.Name, err)
				}
			}
		}
		return nil
	}, nil
}

// costSubject is something that watches the host; start runs it and
// returns the pid of its process (counted with libvirtd and QEMU) and
// what stops it.
type costSubject struct {
	name  string
	start func() (pid int, stop func(), err error)
}

type costRow struct {
	name    string
	perSec  []usage // CPU per second above idle, one per round
	skipped string
}

type costResult struct {
	guests  int
	calls   []callCost
	rows    []*costRow
	idle    []usage // the idle host's CPU per second, every idle window
	skipped string
}

// callChoices are the sources of the figures measured one by one: bulk
// calls by groups, and the per-domain calls (for every running domain).
var callChoices = []string{
	"state", "state,interface", "state,cpu-total", "state,vcpu", "state,balloon", "state,block",
	"state,balloon,interface,block", sixGroups, sampleCalls,
	"each:info", "each:cpustats", "each:vcpus", "each:cpustats,vcpus", "each:memory", "each:blockstats", "each:iface",
}

// callCost is what one call (or one round of per-domain calls) costs
// libvirtd and the guests' QEMU processes.
type callCost struct {
	name           string
	calls          int
	latency        time.Duration // median
	libvirtd, qemu time.Duration // CPU per call, above idle
	skipped        string
}

// measureCalls makes each choice's call back to back for callWindow: the
// calls' CPU then stands far above the host's noise. The idle rate, taken
// just before, is subtracted.
func measureCalls() []callCost {
	var out []callCost
	l, err := dialLibvirt(libvirtconn.ReadOnlySocket, systemURI)
	if err != nil {
		return []callCost{{name: "all", skipped: err.Error()}}
	}
	defer l.Disconnect()
	for _, choice := range callChoices {
		c := callCost{name: choice}
		once, err := callFunc(l, choice)
		if err != nil {
			c.skipped = err.Error()
			out = append(out, c)
			continue
		}
		logf("cost per call: %s", choice)
		daemon, guests := libvirtdPID(), qemuPIDs()
		cpuOf := func() (d, q time.Duration) {
			for _, pid := range guests {
				q += procCPU(pid)
			}
			return procCPU(daemon), q
		}
		d0, q0 := cpuOf()
		idleStart := time.Now()
		time.Sleep(*callIdle)
		d1, q1 := cpuOf()
		idle := time.Since(idleStart)
		var times []time.Duration
		start := time.Now()
		for time.Since(start) < *callWindow || len(times) < 10 {
			t0 := time.Now()
			if err := once(); err != nil {
				c.skipped = err.Error()
				break
			}
			times = append(times, time.Since(t0))
		}
		busy := time.Since(start)
		d2, q2 := cpuOf()
		if c.skipped == "" {
			scale := float64(busy) / float64(idle)
			n := time.Duration(len(times))
			c.calls = len(times)
			c.latency, _ = percentiles(times)
			c.libvirtd = (d2 - d1 - time.Duration(float64(d1-d0)*scale)) / n
			c.qemu = (q2 - q1 - time.Duration(float64(q1-q0)*scale)) / n
		}
		out = append(out, c)
	}
	return out
}

func costPart(bin string) *costResult {
	r := &costResult{guests: runningGuests()}
	self, err := os.Executable()
	if err != nil {
		r.skipped = err.Error()
		return r
	}
	r.calls = measureCalls()
	subjects := costSubjects(bin, self)
	for _, s := range subjects {
		r.rows = append(r.rows, &costRow{name: s.name})
	}
	for round := 1; round <= *costRounds; round++ {
		before := idleWindow()
		r.idle = append(r.idle, before)
		for i, s := range subjects {
			row := r.rows[i]
			if row.skipped != "" {
				continue
			}
			logf("cost round %d/%d: %s", round, *costRounds, s.name)
			used, err := subjectWindow(s)
			if err != nil {
				row.skipped = err.Error()
				continue
			}
			after := idleWindow()
			r.idle = append(r.idle, after)
			row.perSec = append(row.perSec, used.minus(before.mean(after)))
			before = after
		}
	}
	return r
}

func costSubjects(bin, self string) []costSubject {
	vadv := func(scrapeEvery time.Duration, args ...string) func() (int, func(), error) {
		return func() (int, func(), error) {
			return startExporter(bin, scrapeEvery, append([]string{"--libvirt.uri=" + systemURI}, args...))
		}
	}
	call := func(groups string) func() (int, func(), error) {
		return func() (int, func(), error) {
			cmd := exec.Command(self, "-cost-call="+groups)
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				return 0, nil, err
			}
			return cmd.Process.Pid, func() { cmd.Process.Kill(); cmd.Wait() }, nil
		}
	}
	all := []costSubject{
		{"vadvisor defaults, nobody scraping", vadv(0)},
		{"vadvisor defaults, scraped every 15 s", vadv(15 * time.Second)},
		{"vadvisor defaults, the web UI open in a browser", func() (int, func(), error) {
			pid, stop, addr, err := startExporterAt(bin, 0, []string{"--libvirt.uri=" + systemURI})
			if err != nil {
				return 0, nil, err
			}
			closeBrowser, err := openUI("http://" + addr + "/ui/")
			if err != nil {
				stop()
				return 0, nil, err
			}
			return pid, func() { closeBrowser(); stop() }, nil
		}},
		{"vadvisor --history.interval=0, nobody scraping", vadv(0, "--history.interval=0")},
		{"plain six-group bulk call once a second", call(sixGroups)},
		{"plain sample calls once a second (" + sampleCalls + ")", call(sampleCalls)},
		{debianPeer + ", scraped every 15 s", func() (int, func(), error) {
			if _, err := exec.LookPath(debianPeer); err != nil {
				return 0, nil, fmt.Errorf("not installed")
			}
			return startExporter(debianPeer, 15*time.Second, []string{"--libvirt.uri=" + systemURI})
		}},
	}
	if *costOnly == "" {
		return all
	}
	var sel []costSubject
	for _, s := range all {
		for _, word := range strings.Split(*costOnly, ",") {
			if strings.Contains(s.name, word) {
				sel = append(sel, s)
				break
			}
		}
	}
	return sel
}

// startExporter starts an exporter on a free port, waits until it answers
// and its first readings are done, and scrapes it every scrapeEvery (never
// if 0), starting at once.
func startExporter(bin string, scrapeEvery time.Duration, args []string) (int, func(), error) {
	pid, stop, _, err := startExporterAt(bin, scrapeEvery, args)
	return pid, stop, err
}

// openUI opens url in a headless chromium, as an operator's browser tab,
// until the returned function closes it. The page loads before it returns.
func openUI(url string) (func(), error) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("/usr/bin/chromium"), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	closeAll := func() { cancel(); cancelAlloc() }
	load, cancelLoad := context.WithTimeout(ctx, 30*time.Second)
	defer cancelLoad()
	if err := chromedp.Do(load, chromedp.Navigate(url), chromedp.WaitVisible("#vms tbody tr")); err != nil {
		closeAll()
		return nil, fmt.Errorf("opening %s in chromium: %w", url, err)
	}
	return closeAll, nil
}

func startExporterAt(bin string, scrapeEvery time.Duration, args []string) (int, func(), string, error) {
	addr, err := freeAddr()
	if err != nil {
		return 0, nil, "", err
	}
	cmd := exec.Command(bin, append([]string{"--web.listen-address=" + addr}, args...)...)
	if err := cmd.Start(); err != nil {
		return 0, nil, "", err
	}
	kill := func() { cmd.Process.Kill(); cmd.Wait() }
	if err := waitListening(addr); err != nil {
		kill()
		return 0, nil, "", err
	}
	time.Sleep(5 * time.Second) // its start-up (connection, first readings) is not its running cost
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if scrapeEvery == 0 {
			return
		}
		tick := time.NewTicker(scrapeEvery)
		defer tick.Stop()
		for {
			if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
				resp.Body.Close()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return cmd.Process.Pid, func() { cancel(); <-done; kill() }, addr, nil
}

// usage is CPU per second: libvirtd's, the guests' QEMU processes', and
// the client's.
type usage struct{ libvirtd, qemu, client time.Duration }

func (u usage) total() time.Duration { return u.libvirtd + u.qemu + u.client }

func (u usage) minus(v usage) usage {
	return usage{u.libvirtd - v.libvirtd, u.qemu - v.qemu, u.client - v.client}
}

func (u usage) mean(v usage) usage {
	return usage{(u.libvirtd + v.libvirtd) / 2, (u.qemu + v.qemu) / 2, (u.client + v.client) / 2}
}

// subjectWindow runs s for one window and returns the CPU per second of
// libvirtd, QEMU and s's process.
func subjectWindow(s costSubject) (usage, error) {
	pid, stop, err := s.start()
	if err != nil {
		return usage{}, err
	}
	defer stop()
	return hostCPUPerSecond(pid), nil
}

func idleWindow() usage { return hostCPUPerSecond(0) }

// hostCPUPerSecond measures libvirtd, the guests' QEMU processes and
// client (if not 0) over one window.
func hostCPUPerSecond(client int) usage {
	daemon, guests := libvirtdPID(), qemuPIDs()
	sample := func() (u usage) {
		for _, pid := range guests {
			u.qemu += procCPU(pid)
		}
		u.libvirtd = procCPU(daemon)
		if client != 0 {
			u.client = procCPU(client)
		}
		return u
	}
	start, before := time.Now(), sample()
	time.Sleep(*costWindow)
	used, took := sample().minus(before), time.Since(start).Seconds()
	per := func(d time.Duration) time.Duration { return time.Duration(float64(d) / took) }
	return usage{per(used.libvirtd), per(used.qemu), per(used.client)}
}

// qemuPIDs are the QEMU processes of the benchmark's guests (others, a
// test's, may come and go on a shared host).
func qemuPIDs() []int {
	var pids []int
	matches, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, m := range matches {
		cmdline, err := os.ReadFile(m)
		if err != nil || !strings.HasPrefix(string(cmdline), "/usr/bin/qemu-system") || !strings.Contains(string(cmdline), "guest="+guestPrefix) {
			continue
		}
		var pid int
		fmt.Sscanf(m, "/proc/%d/cmdline", &pid)
		pids = append(pids, pid)
	}
	return pids
}

func runningGuests() int { return len(qemuPIDs()) }

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func (r *costResult) print() {
	fmt.Println("## Host cost of watching the guests")
	fmt.Println()
	if r.skipped != "" {
		fmt.Printf("Skipped: %s.\n", r.skipped)
		return
	}
	fmt.Printf("### What each source costs\n\nlibvirtd's and the guests' QEMU CPU per call (for per-domain calls: per round over every running domain), from calls made back to back for %s, less the idle rate measured for %s just before; with %d running guests.\n\n", *callWindow, *callIdle, r.guests)
	fmt.Println("| call | calls | latency (median) | libvirtd CPU per call | QEMU CPU per call | together | per guest |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, c := range r.calls {
		if c.skipped != "" {
			fmt.Printf("| %s | skipped: %s | | | | | |\n", c.name, c.skipped)
			continue
		}
		fmt.Printf("| %s | %d | %s | %s | %s | %s | %s |\n", c.name, c.calls, ms(c.latency), ms(c.libvirtd), ms(c.qemu), ms(c.libvirtd+c.qemu), ms((c.libvirtd+c.qemu)/time.Duration(max(r.guests, 1))))
	}
	fmt.Printf("\n### Watching the guests once a second\n\n")
	if len(r.idle) == 0 {
		return
	}
	totals := func(us []usage) []time.Duration {
		var out []time.Duration
		for _, u := range us {
			out = append(out, u.total())
		}
		return out
	}
	idle := totals(r.idle)
	fmt.Printf("CPU of libvirtd, the guests' QEMU processes and the client (the exporter, or the process making the plain calls) above the idle host, per second, with %d running guests; windows of %s, each against the mean of the idle windows just before and after it; median of %d rounds (the totals' median, and each part's). The idle host itself: %s of a core (median of %d idle windows; range %s to %s).\n\n",
		r.guests, *costWindow, *costRounds, pct(median(idle)), len(idle), pct(slices.Min(idle)), pct(slices.Max(idle)))
	var plain time.Duration
	for _, row := range r.rows {
		if strings.HasPrefix(row.name, "plain six-group") && len(row.perSec) > 0 {
			plain = median(totals(row.perSec))
		}
	}
	fmt.Println("| what runs | host CPU | per guest-second | × plain call | libvirtd | QEMU | client | each round's host CPU |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---|")
	for _, row := range r.rows {
		if row.skipped != "" {
			fmt.Printf("| %s | skipped: %s | | | | | | |\n", row.name, row.skipped)
			continue
		}
		if len(row.perSec) == 0 {
			continue
		}
		m := median(totals(row.perSec))
		ratio := "-"
		if plain > 0 {
			ratio = fmt.Sprintf("%.2f", float64(m)/float64(plain))
		}
		perGuest := "-"
		if r.guests > 0 {
			perGuest = fmt.Sprintf("%.2f ms", float64(m)/float64(r.guests)/float64(time.Millisecond))
		}
		part := func(f func(usage) time.Duration) string {
			var ds []time.Duration
			for _, u := range row.perSec {
				ds = append(ds, f(u))
			}
			return pct(median(ds))
		}
		var each []string
		for _, d := range totals(row.perSec) {
			each = append(each, pct(d))
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", row.name, pct(m), perGuest, ratio,
			part(func(u usage) time.Duration { return u.libvirtd }), part(func(u usage) time.Duration { return u.qemu }),
			part(func(u usage) time.Duration { return u.client }), strings.Join(each, ", "))
	}
}

// pct is a CPU time per second as a percentage of one core.
func pct(perSec time.Duration) string {
	return fmt.Sprintf("%.1f %%", float64(perSec)/float64(time.Second)*100)
}
