// Package e2e tests the built vadvisor binary from the outside, as
// Prometheus, curl and operators use it, against the real libvirtd.
package e2e

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
	*testbed.Process
	Addr string // host:port it listens on
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
	addr := testbed.FreeAddr(t)
	return &Process{testbed.Launch(t, Command(binary, addr, args...)), addr}
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
	addr := testbed.FreeAddr(t)
	p := &Process{testbed.Launch(t, build(addr)), addr}
	p.WaitListening(t, addr)
	return p
}

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
