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
	costCall = flag.String("cost-call", "", "internal: make the bulk call for these comma-separated groups once a second")
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

const sixGroups = "state,cpu-total,balloon,vcpu,interface,block"

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
// read-only socket, as `virsh -r domstats --nowait` would make it.
func plainCall(list string) error {
	groups, err := parseGroups(list)
	if err != nil {
		return err
	}
	l, err := dialLibvirt(libvirtconn.ReadOnlySocket, systemURI)
	if err != nil {
		return err
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for range tick.C {
		if _, err := l.ConnectGetAllDomainStats(nil, uint32(groups), uint32(libvirt.ConnectGetAllDomainsStatsNowait)); err != nil {
			return err
		}
	}
	return nil
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
	perSec  []time.Duration // CPU per second above idle, one per round
	skipped string
}

type costResult struct {
	guests  int
	rows    []*costRow
	idle    []time.Duration // the idle host's CPU per second, every idle window
	skipped string
}

func costPart(bin string) *costResult {
	r := &costResult{guests: runningGuests()}
	self, err := os.Executable()
	if err != nil {
		r.skipped = err.Error()
		return r
	}
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
			row.perSec = append(row.perSec, used-(before+after)/2)
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
		{"vadvisor --history.interval=0, nobody scraping", vadv(0, "--history.interval=0")},
		{"plain six-group bulk call once a second", call(sixGroups)},
		{debianPeer + ", scraped every 15 s", func() (int, func(), error) {
			if _, err := exec.LookPath(debianPeer); err != nil {
				return 0, nil, fmt.Errorf("not installed")
			}
			return startExporter(debianPeer, 15*time.Second, []string{"--libvirt.uri=" + systemURI})
		}},
	}
	for _, groups := range []string{"state", "state,interface", "state,cpu-total", "state,vcpu", "state,balloon", "state,block",
		"state,cpu-total,vcpu,interface", "state,cpu-total,balloon,vcpu,interface"} {
		all = append(all, costSubject{"bulk call once a second: " + groups, call(groups)})
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
	addr, err := freeAddr()
	if err != nil {
		return 0, nil, err
	}
	cmd := exec.Command(bin, append([]string{"--web.listen-address=" + addr}, args...)...)
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	kill := func() { cmd.Process.Kill(); cmd.Wait() }
	if err := waitListening(addr); err != nil {
		kill()
		return 0, nil, err
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
	return cmd.Process.Pid, func() { cancel(); <-done; kill() }, nil
}

// subjectWindow runs s for one window and returns the CPU per second of
// libvirtd, QEMU and s's process together.
func subjectWindow(s costSubject) (time.Duration, error) {
	pid, stop, err := s.start()
	if err != nil {
		return 0, err
	}
	defer stop()
	return hostCPUPerSecond(pid), nil
}

func idleWindow() time.Duration { return hostCPUPerSecond(0) }

// hostCPUPerSecond measures libvirtd, every QEMU process and extra (if
// not 0) over one window.
func hostCPUPerSecond(extra int) time.Duration {
	pids := append(qemuPIDs(), libvirtdPID())
	if extra != 0 {
		pids = append(pids, extra)
	}
	sum := func() (total time.Duration) {
		for _, pid := range pids {
			total += procCPU(pid)
		}
		return total
	}
	start, before := time.Now(), sum()
	time.Sleep(*costWindow)
	used, took := sum()-before, time.Since(start)
	return time.Duration(float64(used) / took.Seconds())
}

// qemuPIDs are the processes whose command name starts with qemu-system.
func qemuPIDs() []int {
	var pids []int
	matches, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, m := range matches {
		comm, err := os.ReadFile(m)
		if err != nil || !strings.HasPrefix(string(comm), "qemu-system") {
			continue
		}
		var pid int
		fmt.Sscanf(m, "/proc/%d/comm", &pid)
		pids = append(pids, pid)
	}
	return pids
}

func runningGuests() int {
	out, _ := exec.Command("virsh", "-r", "-c", systemURI, "list", "--name").Output()
	return len(strings.Fields(string(out)))
}

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
	fmt.Printf("CPU of libvirtd, every QEMU process and the client (the exporter, or the process making the plain call) above the idle host, with %d running guests; windows of %s, median of %d rounds. The idle host itself: %s of a core (median of %d idle windows; range %s to %s).\n\n",
		r.guests, *costWindow, *costRounds, pct(median(r.idle)), len(r.idle), pct(slices.Min(r.idle)), pct(slices.Max(r.idle)))
	var plain time.Duration
	for _, row := range r.rows {
		if strings.HasPrefix(row.name, "plain six-group") && len(row.perSec) > 0 {
			plain = median(row.perSec)
		}
	}
	fmt.Println("| what runs | host CPU | per guest-second | × plain call | rounds |")
	fmt.Println("|---|---|---|---|---|")
	for _, row := range r.rows {
		if row.skipped != "" {
			fmt.Printf("| %s | skipped: %s | | | |\n", row.name, row.skipped)
			continue
		}
		m := median(row.perSec)
		ratio := "-"
		if plain > 0 {
			ratio = fmt.Sprintf("%.2f", float64(m)/float64(plain))
		}
		perGuest := "-"
		if r.guests > 0 {
			perGuest = fmt.Sprintf("%.2f ms", float64(m)/float64(r.guests)/float64(time.Millisecond))
		}
		var each []string
		for _, d := range row.perSec {
			each = append(each, pct(d))
		}
		fmt.Printf("| %s | %s | %s | %s | %s |\n", row.name, pct(m), perGuest, ratio, strings.Join(each, ", "))
	}
}

// pct is a CPU time per second as a percentage of one core.
func pct(perSec time.Duration) string {
	return fmt.Sprintf("%.1f %%", float64(perSec)/float64(time.Second)*100)
}
