package libvirtconn

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/libvirttest"
)

// The tests in this file run the connection owner against a fake libvirtd:
// a unix-socket listener whose connections are answered by go-libvirt's own
// mock server (libvirttest), so that no second libvirt is written here. The
// fake only frames the packets and decides, per procedure, whether to answer
// at once, after a delay, or never.

// Remote procedure numbers (go-libvirt keeps its constants internal).
const (
	procConnectOpen          = 1
	procConnectClose         = 2
	procAuthList             = 66
	procConnectGetLibVersion = 157
	procDomainGetState       = 212
)

// cannedProcs are the procedures libvirttest has a canned reply for and that
// these tests use; the fake forwards only these to it, since the mock stays
// silent on any other and a forwarded request must get its reply.
var cannedProcs = map[uint32]bool{
	procConnectOpen:          true,
	procConnectClose:         true,
	procAuthList:             true,
	procConnectGetLibVersion: true,
	procDomainGetState:       true,
}

// packetHeaderSize is a libvirt RPC packet's length word and header.
const packetHeaderSize = 28

// rule says how the fake answers one procedure.
type rule struct {
	delay time.Duration // answer only after this long
	hang  bool          // never answer: swallow the request
}

// fakeLibvirtd listens on a unix socket and serves each connection with a
// libvirttest.MockLibvirt.
type fakeLibvirtd struct {
	path string

	mu       sync.Mutex
	ln       net.Listener
	rules    map[uint32]rule
	conns    []*fakeConn
	accepted chan struct{} // signalled on each accepted connection

	seen chan uint32 // procedures received, in order (dropped when full)
	wg   sync.WaitGroup
}

type fakeConn struct {
	conn net.Conn // to the client under test
	pipe net.Conn // to the libvirttest mock
	gone chan struct{}

	mu     sync.Mutex // serialises asking the mock and writing the reply
	closed bool
}

func newFakeLibvirtd(t *testing.T) *fakeLibvirtd {
	t.Helper()
	s := &fakeLibvirtd{
		path:     filepath.Join(t.TempDir(), "libvirt-sock"),
		rules:    map[uint32]rule{},
		accepted: make(chan struct{}, 64),
		seen:     make(chan uint32, 256),
	}
	s.start(t)
	t.Cleanup(func() {
		s.stop()
		s.wg.Wait()
	})
	return s
}

// uri is the libvirt URI that dials this fake.
func (s *fakeLibvirtd) uri() string { return "qemu:///system?socket=" + s.path }

func (s *fakeLibvirtd) setRule(proc uint32, r rule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules[proc] = r
}

func (s *fakeLibvirtd) rule(proc uint32) rule {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rules[proc]
}

// start (re)creates the socket and serves it.
func (s *fakeLibvirtd) start(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("unix", s.path)
	if err != nil {
		t.Fatalf("listen on %s: %v", s.path, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fc := &fakeConn{conn: c, gone: make(chan struct{})}
			s.mu.Lock()
			s.conns = append(s.conns, fc)
			s.mu.Unlock()
			select {
			case s.accepted <- struct{}{}:
			default:
			}
			s.wg.Go(func() { s.serve(fc) })
		}
	})
}

// stop removes the socket (a Go unix listener unlinks it on Close) and then
// drops every connection, so that the client's redial finds no socket.
func (s *fakeLibvirtd) stop() {
	s.mu.Lock()
	ln := s.ln
	s.ln = nil
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	s.dropAll()
}

// dropAll closes every connection from the server side.
func (s *fakeLibvirtd) dropAll() {
	s.mu.Lock()
	conns := append([]*fakeConn(nil), s.conns...)
	s.mu.Unlock()
	for _, fc := range conns {
		fc.conn.Close()
	}
}

func (s *fakeLibvirtd) accepts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// waitProc waits until the fake has received a request for proc.
func (s *fakeLibvirtd) waitProc(t *testing.T, proc uint32, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case p := <-s.seen:
			if p == proc {
				return
			}
		case <-deadline:
			t.Fatalf("the fake libvirtd received no request for procedure %d within %s", proc, within)
		}
	}
}

func (s *fakeLibvirtd) serve(fc *fakeConn) {
	mock := libvirttest.New()
	pipe, err := mock.Dial()
	if err != nil {
		fc.conn.Close()
		close(fc.gone)
		return
	}
	fc.pipe = pipe
	defer func() {
		fc.conn.Close()
		fc.mu.Lock()
		fc.closed = true
		pipe.Close() // ends the mock's goroutine (it reads io.EOF)
		fc.mu.Unlock()
		close(fc.gone)
	}()
	for {
		hdr := make([]byte, packetHeaderSize)
		if _, err := io.ReadFull(fc.conn, hdr); err != nil {
			return
		}
		length := binary.BigEndian.Uint32(hdr[0:4])
		if length < packetHeaderSize {
			return
		}
		// The mock reads only headers, so the payload is not forwarded.
		if _, err := io.CopyN(io.Discard, fc.conn, int64(length-packetHeaderSize)); err != nil {
			return
		}
		proc := binary.BigEndian.Uint32(hdr[12:16])
		select {
		case s.seen <- proc:
		default:
		}
		r := s.rule(proc)
		switch {
		case r.hang || !cannedProcs[proc]:
		case r.delay > 0:
			s.wg.Go(func() {
				timer := time.NewTimer(r.delay)
				defer timer.Stop()
				select {
				case <-timer.C:
					fc.answer(hdr)
				case <-fc.gone:
				}
			})
		default:
			fc.answer(hdr)
		}
	}
}

// answer asks the mock for its canned reply to the request header hdr and
// sends it to the client with the request's serial: the mock numbers its
// replies itself, which holds only while every request is answered in order.
func (fc *fakeConn) answer(hdr []byte) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.closed {
		return
	}
	_ = fc.pipe.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fc.pipe.Write(hdr); err != nil {
		return
	}
	var lenBuf [4]byte
	if _, err := io.ReadFull(fc.pipe, lenBuf[:]); err != nil {
		return
	}
	n := binary.BigEndian.Uint32(lenBuf[:])
	if n < packetHeaderSize {
		return
	}
	reply := make([]byte, n)
	copy(reply, lenBuf[:])
	if _, err := io.ReadFull(fc.pipe, reply[4:]); err != nil {
		return
	}
	copy(reply[20:24], hdr[20:24])
	_, _ = fc.conn.Write(reply)
}

// startConn makes a Conn to uri and runs its owner loop for the test.
func startConn(t *testing.T, uri string, timeout time.Duration, logger *slog.Logger) *Conn {
	t.Helper()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c, err := New(uri, timeout, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return c
}

// waitFor polls cond until it holds or within has passed.
func waitFor(t *testing.T, within time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf(format, args...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The calls the tests make: one the mock answers at once by default, and one
// the tests make hang or slow down.
func libVersion(ctx context.Context, c *Conn) error {
	_, err := Do(ctx, c, func(l *libvirt.Libvirt) (uint64, error) { return l.ConnectGetLibVersion() })
	return err
}

func domainState(ctx context.Context, c *Conn) error {
	_, err := Do(ctx, c, func(l *libvirt.Libvirt) (int32, error) {
		state, _, err := l.DomainGetState(libvirt.Domain{Name: "test"}, 0)
		return state, err
	})
	return err
}

// mustCall makes a call that must succeed. The tests make one on every
// connection before it is dropped: go-libvirt's ConnectToURI assigns
// l.disconnected after the connection is up, unsynchronised with the
// goroutine that reads it once the socket drops (digitalocean/go-libvirt
// issue 167), and a call orders the two for the race detector (both
// take l.cmux), which would otherwise report the library's race here.
func mustCall(t *testing.T, c *Conn) {
	t.Helper()
	if err := libVersion(context.Background(), c); err != nil {
		t.Fatalf("a call on the connection failed: %v", err)
	}
}

// dialLog records when Run reported a failed connection attempt: each one
// is logged once, with an "err" attribute (Warn for the first of an outage,
// Debug for the retries).
type dialLog struct {
	mu    sync.Mutex
	fails []time.Time
}

func (h *dialLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *dialLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *dialLog) WithGroup(string) slog.Handler            { return h }
func (h *dialLog) Handle(_ context.Context, r slog.Record) error {
	failed := false
	r.Attrs(func(a slog.Attr) bool {
		failed = a.Key == "err"
		return !failed
	})
	if failed {
		h.mu.Lock()
		h.fails = append(h.fails, r.Time)
		h.mu.Unlock()
	}
	return nil
}

func (h *dialLog) snapshot() []time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Time(nil), h.fails...)
}

// 1. The server drops the connection: Run redials. The socket is gone:
// retries back off, doubling. WaitConnected's kick redials at once.
func TestMockRedialBackoff(t *testing.T) {
	srv := newFakeLibvirtd(t)
	log := &dialLog{}
	c := startConn(t, srv.uri(), time.Second, slog.New(log))
	// Polled rather than WaitConnected, whose kick could linger in the
	// channel and cut the first backoff below short.
	waitFor(t, 2*time.Second, c.Connected, "Run did not connect to the fake libvirtd")
	if n := c.Connects(); n != 1 {
		t.Fatalf("Connects() = %d after the first connection, want 1", n)
	}
	mustCall(t, c)

	srv.dropAll()
	waitFor(t, 2*time.Second, func() bool { return c.Connects() == 2 && c.Connected() },
		"Run did not reconnect after the server dropped the connection (Connects() = %d)", c.Connects())
	if n := srv.accepts(); n != 2 {
		t.Fatalf("the fake accepted %d connections, want 2", n)
	}
	mustCall(t, c)

	// No socket: attempts 1..5 come 100, 200, 400 and 800ms apart; a
	// tight loop would make thousands, a fixed 100ms delay 15.
	before := len(log.snapshot())
	srv.stop()
	waitFor(t, 5*time.Second, func() bool { return len(log.snapshot()) >= before+5 },
		"Run made only %d connection attempts in 5s while the socket was absent", len(log.snapshot())-before)
	fails := log.snapshot()[before:]
	for i := 1; i < 5; i++ {
		gap := fails[i].Sub(fails[i-1])
		want := minBackoff << (i - 1)
		if gap < want*9/10 {
			t.Errorf("attempt %d came %s after the previous one, want a backoff of at least %s (attempts at %v)",
				i+1, gap, want, offsets(fails))
		}
	}
	if window := fails[0].Add(time.Second); countBefore(fails, window) > 5 {
		t.Errorf("%d attempts within 1s of losing the socket, want at most 5 (attempts at %v)",
			countBefore(fails, window), offsets(fails))
	}

	// The next retry is 1.6s away: the kick must not wait for it.
	srv.start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.WaitConnected(ctx); err != nil {
		t.Fatalf("WaitConnected did not get a connection within 700ms of the socket's return "+
			"(the backoff has 1.6s to go; the kick should redial now): %v", err)
	}
	t.Logf("WaitConnected reconnected after %s; attempts at %v", time.Since(start), offsets(fails))
	if n := c.Connects(); n != 3 {
		t.Fatalf("Connects() = %d after the kick, want 3", n)
	}
	mustCall(t, c)
}

func countBefore(ts []time.Time, limit time.Time) int {
	n := 0
	for _, ts := range ts {
		if ts.Before(limit) {
			n++
		}
	}
	return n
}

func offsets(ts []time.Time) []time.Duration {
	var out []time.Duration
	for _, x := range ts {
		out = append(out, x.Sub(ts[0]).Round(time.Millisecond))
	}
	return out
}

// 2. A call that never answers returns ErrTimeout after its timeout: not
// before, and not hanging; the connection stays usable.
func TestMockCallNeverAnswers(t *testing.T) {
	const timeout = 300 * time.Millisecond
	_, c := hangingStateConn(t, timeout)

	start := time.Now()
	errc := make(chan error, 1)
	go func() { errc <- domainState(context.Background(), c) }()
	var err error
	select {
	case err = <-errc:
	case <-time.After(timeout + 3*time.Second):
		t.Fatalf("Do on a call that never answers had not returned after %s (timeout %s)", time.Since(start), timeout)
	}
	elapsed := time.Since(start)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Do on a call that never answers returned %v, want ErrTimeout", err)
	}
	if elapsed < timeout {
		t.Errorf("Do gave up after %s, before its timeout of %s", elapsed, timeout)
	}
	if elapsed > timeout+time.Second {
		t.Errorf("Do gave up after %s, long after its timeout of %s", elapsed, timeout)
	}

	// One abandoned call does not wedge the connection.
	if err := libVersion(context.Background(), c); err != nil {
		t.Fatalf("a call after one timed-out call failed: %v", err)
	}
	if n := c.Connects(); n != 1 {
		t.Errorf("Connects() = %d after one timed-out call, want 1 (no reconnect)", n)
	}
}

// hangingStateConn is a connected Conn to a fake libvirtd that never
// answers DomainGetState.
func hangingStateConn(t *testing.T, timeout time.Duration) (*fakeLibvirtd, *Conn) {
	t.Helper()
	srv := newFakeLibvirtd(t)
	srv.setRule(procDomainGetState, rule{hang: true})
	c := startConn(t, srv.uri(), timeout, nil)
	waitFor(t, 2*time.Second, c.Connected, "Run did not connect to the fake libvirtd")
	return srv, c
}

// 3. When every request slot is held by an abandoned call, the owner closes
// the connection and redials, and calls work again.
func TestMockWedgedRedial(t *testing.T) {
	const timeout = 200 * time.Millisecond
	srv, c := hangingStateConn(t, timeout)

	hang := func(n int) {
		t.Helper()
		errs := make(chan error, n)
		for range n {
			go func() { errs <- domainState(context.Background(), c) }()
		}
		for range n {
			if err := <-errs; !errors.Is(err, ErrTimeout) {
				t.Fatalf("a hung call returned %v, want ErrTimeout", err)
			}
		}
	}

	hang(MaxInFlight - 1)
	if n := c.Connects(); n != 1 || !c.Connected() {
		t.Fatalf("with %d of %d slots held by hung calls: Connects() = %d, Connected() = %v; want 1, true",
			MaxInFlight-1, MaxInFlight, n, c.Connected())
	}

	hang(1)
	waitFor(t, 2*time.Second, func() bool { return c.Connects() == 2 && c.Connected() },
		"the owner did not redial after all %d slots were held by hung calls (Connects() = %d)",
		MaxInFlight, c.Connects())
	if n := srv.accepts(); n != 2 {
		t.Errorf("the fake accepted %d connections, want 2", n)
	}
	if err := libVersion(context.Background(), c); err != nil {
		t.Fatalf("a call after the redial failed: %v", err)
	}
}

// 4. The server closes while a call is in flight: the call fails at once,
// not with ErrTimeout after its full timeout, and the owner redials.
func TestMockDisconnectMidCall(t *testing.T) {
	const timeout = 5 * time.Second
	srv, c := hangingStateConn(t, timeout)

	errc := make(chan error, 1)
	go func() { errc <- domainState(context.Background(), c) }()
	srv.waitProc(t, procDomainGetState, 2*time.Second)
	start := time.Now()
	srv.dropAll()
	select {
	case err := <-errc:
		if err == nil || errors.Is(err, ErrTimeout) {
			t.Fatalf("a call cut off by a disconnect returned %v, want the disconnect's error", err)
		}
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Errorf("a call cut off by a disconnect returned after %s, want at once", elapsed)
		}
		t.Logf("the cut-off call returned %v", err)
	case <-time.After(2 * time.Second):
		t.Fatalf("a call cut off by a disconnect had not returned after 2s (timeout %s)", timeout)
	}

	waitFor(t, 2*time.Second, func() bool { return c.Connects() == 2 && c.Connected() },
		"the owner did not redial after the server closed mid-call (Connects() = %d)", c.Connects())
	if err := libVersion(context.Background(), c); err != nil {
		t.Fatalf("a call after the redial failed: %v", err)
	}
}

// A call waiting for a request slot when the connection closes under the
// calls that held them gets a slot, but never goes out: it fails as
// unsent, while the calls cut off may still run in libvirtd.
func TestMockSlotWaiterAfterDisconnect(t *testing.T) {
	const timeout = 5 * time.Second
	srv, c := hangingStateConn(t, timeout)
	mustCall(t, c)

	held := make(chan error, MaxInFlight)
	for range MaxInFlight {
		go func() { held <- domainState(context.Background(), c) }()
	}
	waitFor(t, 2*time.Second, func() bool { return len(c.slots) == MaxInFlight }, "the hanging calls did not take every slot")
	waiter := make(chan error, 1)
	go func() { waiter <- libVersion(context.Background(), c) }()
	time.Sleep(100 * time.Millisecond) // let it queue for a slot
	srv.dropAll()

	for range MaxInFlight {
		if err := <-held; err == nil || Classify(err) == NotSent {
			t.Errorf("a call cut off by the disconnect returned %v; it may still run in libvirtd, so not unsent", err)
		}
	}
	select {
	case err := <-waiter:
		if Classify(err) != NotSent {
			t.Errorf("the call that waited for a slot returned %v, want an unsent error (it was never sent)", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the call that waited for a slot had not returned 2s after the disconnect")
	}
}

// 5. A connection that completes after the connect timeout is closed, not
// leaked: both when the server is slow to answer the connect RPC, and when
// the dial itself completes late.
func TestMockLateDial(t *testing.T) {
	const timeout = 200 * time.Millisecond

	t.Run("slow connect RPC", func(t *testing.T) {
		srv := newFakeLibvirtd(t)
		srv.setRule(procConnectOpen, rule{delay: 5 * timeout})
		c, err := New(srv.uri(), timeout, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		client, _, err := c.dial()
		if err == nil {
			client.Disconnect()
			t.Fatal("dial succeeded although the connect RPC is answered only after the timeout")
		}
		if elapsed := time.Since(start); elapsed > timeout+time.Second {
			t.Errorf("dial gave up after %s, want about its timeout of %s", elapsed, timeout)
		}
		srv.mu.Lock()
		conns := append([]*fakeConn(nil), srv.conns...)
		srv.mu.Unlock()
		if len(conns) != 1 {
			t.Fatalf("the fake accepted %d connections, want 1", len(conns))
		}
		select {
		case <-conns[0].gone:
		case <-time.After(2 * timeout):
			t.Fatalf("the connection of a dial that timed out was still open %s after the timeout", 2*timeout)
		}
	})

	t.Run("dial completes late", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("relies on Linux dropping SYNs to a listener whose accept queue is full")
		}
		// A TCP listener with an accept queue of one, filled: the client's
		// SYN is dropped, and its connect completes only on the SYN
		// retransmission (1s later), once the queue has room again.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		raw, err := ln.(*net.TCPListener).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var lerr error
		if err := raw.Control(func(fd uintptr) { lerr = syscall.Listen(int(fd), 0) }); err != nil || lerr != nil {
			t.Fatalf("shrinking the accept queue: %v %v", err, lerr)
		}
		filler, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer filler.Close()
		if probe, err := net.DialTimeout("tcp", ln.Addr().String(), 100*time.Millisecond); err == nil {
			probe.Close()
			t.Skip("this kernel does not hold back a connect to a full accept queue")
		}

		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		c, err := New("qemu+tcp://127.0.0.1:"+port+"/system", timeout, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		client, _, err := c.dial()
		if err == nil {
			client.Disconnect()
			t.Fatal("dial succeeded although the listener's accept queue is full")
		}
		t.Logf("dial gave up after %s: %v", time.Since(start), err)

		// Make room: the retransmitted SYN now completes the dial.
		_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
		first, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		first.Close()
		late, err := ln.Accept()
		if err != nil {
			t.Fatalf("the late dial never arrived: %v", err)
		}
		defer late.Close()
		t.Logf("the late dial arrived %s after dial began", time.Since(start))
		_ = late.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := late.Read(make([]byte, 64))
		if err != io.EOF {
			t.Fatalf("the connection of a dial that completed after its timeout was not closed: read %d bytes, %v", n, err)
		}
	})
}

// 6. The wait for a request slot is not charged to the call's own timeout:
// a call queued behind busy slots for less than the timeout, and itself
// quicker than the timeout, succeeds although the two together are longer.
func TestMockSlotWaitNotCharged(t *testing.T) {
	const (
		timeout = 400 * time.Millisecond
		busy    = 250 * time.Millisecond // each slot holder's call
		own     = 200 * time.Millisecond // the queued call's own call
	)
	srv := newFakeLibvirtd(t)
	srv.setRule(procDomainGetState, rule{delay: busy})
	srv.setRule(procConnectGetLibVersion, rule{delay: own})
	c := startConn(t, srv.uri(), timeout, nil)
	waitFor(t, 2*time.Second, c.Connected, "Run did not connect to the fake libvirtd")

	errs := make(chan error, MaxInFlight)
	for range MaxInFlight {
		go func() { errs <- domainState(context.Background(), c) }()
	}
	// The holders have their slots once their requests reach the server.
	for range MaxInFlight {
		srv.waitProc(t, procDomainGetState, 2*time.Second)
	}
	start := time.Now()
	err := libVersion(context.Background(), c)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("a call that waited for a slot and then took %s failed after %s (timeout %s): %v", own, elapsed, timeout, err)
	}
	if elapsed <= timeout {
		t.Fatalf("the queued call took only %s, not more than the timeout %s: the test proves nothing", elapsed, timeout)
	}
	for range MaxInFlight {
		if err := <-errs; err != nil {
			t.Errorf("a slot holder failed: %v", err)
		}
	}
}

// 7. Each runs every index exactly once on at most Workers goroutines.
func TestEachBoundsWorkers(t *testing.T) {
	for _, n := range []int{0, 1, Workers - 1, Workers, 50} {
		var cur, peak atomic.Int64
		counts := make([]atomic.Int64, n)
		Each(n, func(i int) {
			now := cur.Add(1)
			for {
				p := peak.Load()
				if now <= p || peak.CompareAndSwap(p, now) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			counts[i].Add(1)
			cur.Add(-1)
		})
		if p := peak.Load(); p > Workers {
			t.Errorf("Each(%d) ran %d calls at once, want at most %d", n, p, Workers)
		}
		for i := range counts {
			if got := counts[i].Load(); got != 1 {
				t.Errorf("Each(%d) ran index %d %d times, want once", n, i, got)
			}
		}
	}
}
