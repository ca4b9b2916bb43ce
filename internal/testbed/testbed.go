// Package testbed gives tests a real libvirtd with real TCG guests
// (scripts/testbed.sh), and the helpers that tests of several packages
// share. Tests that use the bed need root, and skip in the unit lane
// (go test -short, make test-unit): see Require.
package testbed

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

// SystemURI is the read-write system connection tests use to act on guests.
const SystemURI = "qemu:///system"

// Root is the repository's top directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Require skips the test in the unit lane (go test -short, which make
// test-unit runs): it needs the test bed that make test sets up. The
// helpers that reach the bed (Guests, Conn, TestNode, Virsh, ...) call it
// first, so a test calls it itself only when it reaches libvirtd, root or
// the bed's tools another way.
func Require(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the test bed (libvirtd, root, the tools make test installs): run make test")
	}
}

// Guests makes sure libvirtd runs with count guests named prefix1..prefixN
// running (reused if defined, started if stopped) and returns their names.
// The prefix must be listed in scripts/test-guest-prefixes: make test stops
// those guests when it ends.
func Guests(t testing.TB, prefix string, count int) []string {
	t.Helper()
	if !listedPrefix(t, prefix) {
		t.Fatalf("guest prefix %q is not listed in scripts/test-guest-prefixes: add it there, so that make test stops these guests when it ends", prefix)
	}
	Shared(t)
	cmd := exec.Command("bash", filepath.Join(Root(), "scripts", "testbed.sh"), prefix, fmt.Sprint(count))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testbed.sh %s %d: %v\n%s", prefix, count, err, out)
	}
	names := make([]string, count)
	for i := range names {
		names[i] = fmt.Sprintf("%s%d", prefix, i+1)
	}
	return names
}

// LinuxGuests is Guests for guests with a real OS (scripts/linux-guest.sh:
// a Linux kernel, busybox and the guest agent, 128 MiB, KVM where libvirt
// can use it, TCG otherwise): it returns once each guest reports its memory
// statistics. They are started once, by the first test that asks, and kept
// running for the next ones; the package's TestMain stops them at the end
// with StopLinuxGuests, since they cost more than the no-OS guests.
func LinuxGuests(t testing.TB, prefix string, count int) []string {
	t.Helper()
	if !listedPrefix(t, prefix) {
		t.Fatalf("guest prefix %q is not listed in scripts/test-guest-prefixes: add it there, so that make test stops these guests when it ends", prefix)
	}
	Shared(t)
	cmd := exec.Command("bash", filepath.Join(Root(), "scripts", "testbed.sh"), "--linux", prefix, fmt.Sprint(count))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("testbed.sh --linux %s %d: %v\n%s", prefix, count, err, out)
	}
	t.Logf("%s", bytes.TrimSpace(out))
	names := make([]string, count)
	linuxMu.Lock()
	defer linuxMu.Unlock()
	for i := range names {
		names[i] = fmt.Sprintf("%s%d", prefix, i+1)
		linuxStarted[names[i]] = true
	}
	return names
}

var (
	linuxMu      sync.Mutex
	linuxStarted = map[string]bool{} // guests LinuxGuests made sure run
)

// StopLinuxGuests stops (virsh destroy, definitions and images kept) the
// guests that LinuxGuests ran in this test binary: for TestMain, after the
// tests.
func StopLinuxGuests() {
	linuxMu.Lock()
	defer linuxMu.Unlock()
	for name := range linuxStarted {
		_ = TryVirsh("destroy", name)
		delete(linuxStarted, name)
	}
}

// StopWhenDone stops the guests (virsh destroy, definitions and images
// kept) when the test ends: for a test that runs more guests than the rest
// of the suite needs, so that they do not load the host for the tests
// after it. A later Guests starts them again.
func StopWhenDone(t testing.TB, names []string) {
	t.Cleanup(func() {
		for _, name := range names {
			_ = TryVirsh("destroy", name)
		}
	})
}

// listedPrefix tells whether scripts/test-guest-prefixes lists prefix.
func listedPrefix(t testing.TB, prefix string) bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(Root(), "scripts", "test-guest-prefixes"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		if strings.TrimSpace(line) == prefix {
			return true
		}
	}
	return false
}

// lockPath is the test bed's lock; scripts/testbed.sh --stop takes it too.
const lockPath = "/run/vadvisor-testbed.lock"

// Shared holds a shared lock on the test bed until the test ends, so that a
// test which restarts libvirtd (Exclusive) never runs under another one.
func Shared(t testing.TB) {
	t.Helper()
	Require(t)
	if _, mine := exclusive.Load(t); !mine {
		lock(t, syscall.LOCK_SH)
	}
}

// Exclusive holds the test bed alone until the test ends: for tests that
// kill or restart libvirtd. Call it before anything else of this package.
func Exclusive(t testing.TB) {
	t.Helper()
	Require(t)
	lock(t, syscall.LOCK_EX)
	exclusive.Store(t, true)
	t.Cleanup(func() { exclusive.Delete(t) })
}

var exclusive sync.Map // testing.TB -> true while it holds the bed alone

func lock(t testing.TB, how int) {
	t.Helper()
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}

// Virsh runs virsh against the system connection and returns its output;
// it fails the test if virsh fails.
func Virsh(t testing.TB, args ...string) string {
	t.Helper()
	Require(t)
	out, err := exec.Command("virsh", virshArgs(args)...).CombinedOutput()
	if err != nil {
		t.Fatalf("virsh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TryVirsh runs virsh against the system connection, for cleanups, probes
// and steps whose failure the test reports itself; its error holds virsh's
// output. It gives up after 30 s: a daemon made busy by another package's
// hung guests must fail the step, not hang the test.
func TryVirsh(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "virsh", virshArgs(args)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("virsh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// StartVirsh runs virsh against the system connection in the background
// until the test ends: a client whose calls hang, or keep libvirtd busy.
func StartVirsh(t testing.TB, args ...string) {
	t.Helper()
	Require(t)
	cmd := exec.Command("virsh", virshArgs(args)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

func virshArgs(args []string) []string {
	return append([]string{"-c", SystemURI}, args...)
}

// Conn returns a connected libvirtconn.Conn for uri, closed when the test ends.
func Conn(t testing.TB, uri string) *libvirtconn.Conn {
	t.Helper()
	Shared(t)
	conn := Running(t, uri, 5*time.Second)
	wait, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := conn.WaitConnected(wait); err != nil {
		t.Fatalf("connecting to %s: %v", uri, err)
	}
	return conn
}

// Running returns a libvirtconn.Conn for uri whose connection loop runs
// until the test ends, without waiting for it to connect.
func Running(t testing.TB, uri string, timeout time.Duration) *libvirtconn.Conn {
	t.Helper()
	conn, err := libvirtconn.New(uri, timeout, Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	RunUntilCleanup(t, conn.Run)
	return conn
}

// RunUntilCleanup runs run on a goroutine until the test ends: cleanup
// cancels its context and waits for it to return.
func RunUntilCleanup(t testing.TB, run func(context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// Logger logs to the test's output.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestNode writes a test-driver node file with n domains named prefix0..
// and returns a test+unix URI for it: a private, in-daemon set of domains.
func TestNode(t testing.TB, prefix string, n int) string {
	t.Helper()
	Require(t)
	dir := t.TempDir()
	// libvirtd reads the file itself, so it must be able to reach it.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	uri, err := WriteNode(dir, prefix, n)
	if err != nil {
		t.Fatal(err)
	}
	return uri
}

// WriteNode writes the node file of TestNode into dir, which libvirtd
// must be able to read, and returns its URI.
func WriteNode(dir, prefix string, n int) (string, error) {
	var b strings.Builder
	b.WriteString("<node>\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `<domain type='test'><name>%s%d</name><uuid>%08x-0000-4000-8000-%012x</uuid>
<memory unit='KiB'>%d</memory><vcpu>%d</vcpu><os><type>hvm</type></os>
<devices><disk type='file' device='disk'><source file='/guest/%s%d.img'/><target dev='vda' bus='virtio'/></disk>
<interface type='bridge'><source bridge='br0'/><target dev='tst%d'/><mac address='52:54:00:%02x:%02x:%02x'/><model type='virtio'/></interface></devices>
</domain>
`, prefix, i, i, i, 1048576+i, 1+i%4, prefix, i, i, (i>>16)&0xff, (i>>8)&0xff, i&0xff)
	}
	b.WriteString("</node>\n")
	path := filepath.Join(dir, "node.xml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return "", err
	}
	return "test+unix://" + path, nil
}

// SampleInterval is 100ms, a history interval short enough for the tests
// to see many samples quickly, unless this machine runs so many guests
// that one bulk reading of groups takes longer than half of that: then the
// interval grows so that every tick still gets its sample.
func SampleInterval(t testing.TB, conn *libvirtconn.Conn, groups libvirt.DomainStatsTypes) time.Duration {
	t.Helper()
	reader := domstats.NewReader(conn, groups)
	var slowest time.Duration
	for range 3 {
		r, err := reader.ReadSample(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, r.Duration)
	}
	interval := 100 * time.Millisecond
	if slowest > interval/2 {
		interval = (2*slowest/interval + 1) * interval
		t.Logf("a bulk reading takes %s here: sampling every %s", slowest, interval)
	}
	return interval
}
