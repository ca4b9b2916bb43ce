// Package e2e tests the built vadvisor binary from the outside, as
// Prometheus, curl and operators use it, against the real libvirtd.
package e2e

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "vadvisor-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "vadvisor")
	build := exec.Command("go", "build", "-race", "-o", binary, ".")
	if testing.Short() {
		// The unit lane (testbed.Require) runs only the tests of flags and
		// of start-up failures: not worth a race build of every package.
		build = exec.Command("go", "build", "-o", binary, ".")
	}
	build.Dir = testbed.Root()
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building vadvisor:", err)
		os.Exit(1)
	}
	code := m.Run()
	testbed.StopLinuxGuests()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Process is a running vadvisor.
type Process struct {
	Addr string // host:port it listens on
	cmd  *exec.Cmd
	out  *testbed.SyncBuffer
	// done is closed when the process has ended: one goroutine, started
	// with the process, is the only caller of cmd.Wait. waitErr is what
	// Wait returned; read it (and cmd.ProcessState) only after done.
	done    chan struct{}
	waitErr error
}

// Start runs vadvisor with args on a free loopback port and waits until it
// answers. It is stopped with SIGTERM when the test ends; its log is shown
// if the test failed.
func Start(t testing.TB, args ...string) *Process {
	t.Helper()
	return StartCmd(t, func(addr string) *exec.Cmd { return Command(binary, addr, args...) })
}

// StartNoWait starts vadvisor without waiting for it to listen.
func StartNoWait(t testing.TB, args ...string) *Process {
	t.Helper()
	addr := freeAddr(t)
	return launch(t, addr, Command(binary, addr, args...))
}

// Command is a vadvisor at path listening on addr. It keeps no state
// across restarts unless args set --storage.path: tests must not share
// one through the default directory.
func Command(path, addr string, args ...string) *exec.Cmd {
	first := []string{"--web.listen-address=" + addr}
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--storage.path") }) {
		first = append(first, "--storage.path=")
	}
	return exec.Command(path, append(first, args...)...)
}

// StartCmd runs the command that build makes for a free loopback address
// (a vadvisor in some wrapping: another build, another user, a namespace)
// and waits until it answers, like Start.
func StartCmd(t testing.TB, build func(addr string) *exec.Cmd) *Process {
	t.Helper()
	addr := freeAddr(t)
	p := launch(t, addr, build(addr))
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", p.Addr, 200*time.Millisecond); err == nil {
			c.Close()
			return p
		}
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("%s did not start listening on %s:\n%s", p.cmd.Path, p.Addr, p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func launch(t testing.TB, addr string, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{Addr: addr, cmd: cmd, out: &testbed.SyncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop(t)
		if t.Failed() {
			t.Logf("%s log:\n%s", p.cmd.Path, p.Log())
		}
	})
	return p
}

// Stop sends SIGTERM and waits for the process to end (killing it after 10s).
func (p *Process) Stop(t testing.TB) {
	if p.Exited() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("vadvisor did not stop within 10s of SIGTERM")
	}
}

// Exited reports, without blocking, whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Done is closed when the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitErr is what waiting for the process returned (an *exec.ExitError for
// a non-zero status or a signal); only valid once Done is closed.
func (p *Process) ExitErr() error {
	<-p.done
	return p.waitErr
}

// MustRun fails the test if the process has ended, with its exit status
// (the log follows from the cleanup of Start).
func (p *Process) MustRun(t testing.TB) {
	t.Helper()
	if p.Exited() {
		t.Fatalf("vadvisor exited: %v", p.cmd.ProcessState)
	}
}

// Log is what the process printed so far.
func (p *Process) Log() string { return p.out.String() }

// URL is the plain-HTTP address of path.
func (p *Process) URL(path string) string { return "http://" + p.Addr + path }

// Get fetches path and returns status and body.
func (p *Process) Get(t testing.TB, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(p.URL(path))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// metricLines returns the sample lines of an exposition whose name starts
// with one of prefixes.
func metricLines(body string, prefixes ...string) []string {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				out = append(out, line)
				break
			}
		}
	}
	return out
}

// readFile reads a file the test needs, or fails the test.
func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
