package e2e

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/internal/testbed"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

// TestLibvirtdDownAndBack kills libvirtd, also in the middle of a scrape,
// and starts it again: vadvisor stays up, answers 200 with libvirt_up 0
// while libvirtd is away and reconnects on its own.
func TestLibvirtdDownAndBack(t *testing.T) {
	exclusive(t)
	names := testbed.Guests(t, faultPrefix, 2)
	kept, killed := names[0], names[1]
	keptID, killedID := testbed.Virsh(t, "domuuid", kept), testbed.Virsh(t, "domuuid", killed)
	t.Cleanup(func() { startLibvirtd(t) })
	p := Start(t, "--libvirt.uri=qemu:///system", "--libvirt.timeout="+faultTimeout.String(), "--history.interval=250ms")
	waitUp(t, p, "1")

	for round := range 2 {
		stopLibvirtd(t)
		body, took := scrape(t, p)
		if v := value(body, "libvirt_up"); v != "0" {
			t.Errorf("round %d: with libvirtd down, libvirt_up is %q, want 0", round, v)
		}
		if took > 2*time.Second {
			t.Errorf("round %d: a scrape with libvirtd down took %s", round, took)
		}
		if round == 0 { // a guest dies while libvirtd is away
			if err := exec.Command("kill", "-KILL", qemuPID(t, killed)).Run(); err != nil {
				t.Fatal(err)
			}
		}
		startLibvirtd(t)
		back := time.Now()
		waitUp(t, p, "1")
		// The history resumes by itself.
		deadline := time.Now().Add(10 * time.Second)
		for newestSample(t, p, keptID).Before(back) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no history sample of %s within 10s of libvirtd's return", round, kept)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	// The death in the gap is in the event history, reconstructed, and the
	// subscription is back: a later change arrives as it happens.
	waitEvent(t, p, "stopped_events=true", `"domain_id":"`+killedID+`"`, `"reason":"Reconciled"`)
	testbed.Virsh(t, "suspend", kept)
	testbed.Virsh(t, "resume", kept)
	waitEvent(t, p, "suspended_events=true", `"domain_id":"`+keptID+`"`, `"reason":"Paused"`)

	// Killed while a scrape reads: that scrape still answers 200 (checked
	// by scrape), and the next ones recover.
	done := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest("GET", p.URL("/metrics"), nil)
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			done <- err.Error()
			return
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		done <- resp.Status
	}()
	time.Sleep(20 * time.Millisecond)
	stopLibvirtd(t)
	if status := <-done; status != "200 OK" {
		t.Errorf("a scrape during which libvirtd was killed answered %s", status)
	}
	startLibvirtd(t)
	waitUp(t, p, "1")
	p.MustRun(t)
}

// TestLibvirtUnreachable: a socket that does not exist, one vadvisor may not
// open, and one that accepts but never answers. vadvisor keeps running and
// serves libvirt_up 0, scrapes within their deadline.
func TestLibvirtUnreachable(t *testing.T) {
	dir := sharedTempDir(t)
	silent := filepath.Join(dir, "silent.sock")
	l, err := net.Listen("unix", silent)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() { // accepts, reads, never answers
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c)
		}
	}()
	forbidden := filepath.Join(dir, "forbidden.sock")
	fl, err := net.Listen("unix", forbidden)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	if err := os.Chmod(forbidden, 0o600); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, socket string
		asNobody     bool
	}{
		{"missing", "/nonexistent/libvirt-sock", false},
		{"no permission", forbidden, true},
		{"never answers", silent, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"--libvirt.uri=qemu:///system?socket=" + c.socket, "--libvirt.timeout=1s"}
			var p *Process
			if c.asNobody {
				p = startAsNobody(t, dir, args...)
			} else {
				p = Start(t, args...)
			}
			for range 3 {
				body, took := scrape(t, p)
				if v := value(body, "libvirt_up"); v != "0" {
					t.Errorf("libvirt_up is %q, want 0", v)
				}
				if took > 3*time.Second {
					t.Errorf("a scrape took %s", took)
				}
				time.Sleep(500 * time.Millisecond)
			}
			p.MustRun(t)
			if c.asNobody && !strings.Contains(p.Log(), "permission denied") {
				t.Errorf("the log does not say why libvirt cannot be reached:\n%s", p.Log())
			}
		})
	}
}

// TestReconnectsLeakNothing drops vadvisor's libvirt connection 50 times
// through a proxy: goroutines and open files come back to where they were.
func TestReconnectsLeakNothing(t *testing.T) {
	testbed.Guests(t, faultPrefix, 1)
	proxy := testbed.NewProxy(t, libvirtconn.ReadOnlySocket)
	p := Start(t, "--libvirt.uri=qemu:///system?socket="+proxy.Path, "--libvirt.timeout="+faultTimeout.String())
	waitUp(t, p, "1")
	// One reconnect first, so that what is made once per connection (the
	// hypervisor version read) counts in the baseline.
	proxy.Drop()
	waitReconnected(t, p, proxy, 1)
	goroutines, fds := settle(t, p)

	for i := 2; i <= 51; i++ {
		proxy.Drop()
		waitReconnected(t, p, proxy, i)
		scrape(t, p)
	}
	// Calls and readings in flight end within a few call timeouts; what
	// is left after that leaked.
	deadline := time.Now().Add(5 * faultTimeout)
	for {
		g, f := settle(t, p)
		if g <= goroutines+5 && f <= fds+3 {
			t.Logf("after 50 reconnects: %d goroutines (baseline %d), %d open files (baseline %d)", g, goroutines, f, fds)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("over 50 reconnects, goroutines grew from %d to %d and open files from %d to %d", goroutines, g, fds, f)
		}
	}
}

// settle waits until goroutines and open files stop falling (connection
// goroutines and calls in flight end) and returns them.
func settle(t *testing.T, p *Process) (goroutines, fds int) {
	t.Helper()
	best := 1 << 30
	for range 10 {
		time.Sleep(700 * time.Millisecond)
		body, _ := scrape(t, p)
		g, _ := strconv.Atoi(value(body, "go_goroutines"))
		ents, _ := os.ReadDir("/proc/" + strconv.Itoa(p.Pid()) + "/fd")
		if g+len(ents) >= best {
			return g, len(ents)
		}
		best, goroutines, fds = g+len(ents), g, len(ents)
	}
	return goroutines, fds
}

func waitReconnected(t *testing.T, p *Process, proxy *testbed.Proxy, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for proxy.Accepted() <= n {
		if time.Now().After(deadline) {
			t.Fatalf("vadvisor did not reconnect after drop %d within 30s:\n%s", n, p.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitUp(t, p, "1")
}

// waitUp waits until a scrape shows libvirt_up with the given value.
// waitEvent waits until the event history holds a line with every part.
func waitEvent(t *testing.T, p *Process, query string, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := p.Get(t, "/api/v1.0/events?max_events=1000&"+query)
		for _, line := range strings.Split(body, "\n") {
			all := line != ""
			for _, part := range parts {
				all = all && strings.Contains(line, part)
			}
			if all {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event with %v in /api/v1.0/events?%s within 10s:\n%s", parts, query, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func waitUp(t *testing.T, p *Process, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		body, _ := scrape(t, p)
		if value(body, "libvirt_up") == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("libvirt_up did not become %s within 30s", want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func stopLibvirtd(t *testing.T) {
	t.Helper()
	_ = exec.Command("pkill", "-x", "libvirtd").Run()
	for range 100 {
		if exec.Command("pgrep", "-x", "libvirtd").Run() != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("libvirtd did not end within 10s of SIGTERM")
}

// startLibvirtd starts libvirtd if it is not running and waits until it
// answers.
func startLibvirtd(t *testing.T) {
	t.Helper()
	if exec.Command("pgrep", "-x", "libvirtd").Run() != nil {
		if out, err := exec.Command("libvirtd", "--daemon").CombinedOutput(); err != nil {
			t.Fatalf("libvirtd --daemon: %v\n%s", err, out)
		}
	}
	for range 100 {
		if testbed.TryVirsh("version") == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("libvirtd did not answer within 10s of starting")
}

// sharedTempDir is a temporary directory that other users may enter.
func sharedTempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "vadvisor-fault")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startAsNobody runs a copy of vadvisor as the unprivileged user nobody.
func startAsNobody(t *testing.T, dir string, args ...string) *Process {
	t.Helper()
	testbed.Require(t) // root
	data := readFile(t, binary)
	copyPath := filepath.Join(dir, "vadvisor")
	if err := os.WriteFile(copyPath, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return StartCmd(t, func(addr string) *exec.Cmd {
		cmd := Command(copyPath, addr, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		return cmd
	})
}
