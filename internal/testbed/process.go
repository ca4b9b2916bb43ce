package testbed

import (
	"net"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Process is a program that a test runs: a vadvisor, in some wrapping
// (another build, another user, a namespace, socket activation).
type Process struct {
	cmd *exec.Cmd
	out *SyncBuffer
	// done is closed when the process has ended: one goroutine, started
	// with the process, is the only caller of cmd.Wait. waitErr is what
	// Wait returned; read it (and cmd.ProcessState) only after done.
	done    chan struct{}
	waitErr error
}

// Launch starts cmd, collecting its output. It is stopped with SIGTERM
// when the test ends; its output is logged if the test failed.
func Launch(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{cmd: cmd, out: &SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", cmd.Path, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop(t)
		if t.Failed() {
			t.Logf("%s log:\n%s", cmd.Path, p.Log())
		}
	})
	return p
}

// WaitListening waits until addr accepts connections. It fails the test
// if the process ends first, or after 20 s.
func (p *Process) WaitListening(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("%s did not start listening on %s:\n%s", p.cmd.Path, addr, p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
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
		t.Errorf("%s did not stop within 10s of SIGTERM", p.cmd.Path)
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
// (the log follows from the cleanup of Launch).
func (p *Process) MustRun(t testing.TB) {
	t.Helper()
	if p.Exited() {
		t.Fatalf("%s exited: %v", p.cmd.Path, p.cmd.ProcessState)
	}
}

// Pid is the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Log is what the process printed so far.
func (p *Process) Log() string { return p.out.String() }

// FreeAddr is a loopback address with a port that is free now, for a
// server that the test starts.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
