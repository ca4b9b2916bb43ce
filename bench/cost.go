package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

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
