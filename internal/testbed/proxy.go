package testbed

import (
	"encoding/binary"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
)

// Proxy relays a unix socket to another (libvirtd's), and can cut it: to
// make libvirt unreachable for one client, or to drop its connections as
// a libvirtd restart would, without touching libvirtd.
type Proxy struct {
	Path   string // where clients connect
	t      testing.TB
	target string

	mu       sync.Mutex
	renames  map[uint32]uint32
	ln       net.Listener
	open     []net.Conn
	accepted int
	served   sync.WaitGroup
}

// NewProxy relays a new socket to target until the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	Require(t)
	p := &Proxy{Path: filepath.Join(t.TempDir(), "libvirt.sock"), t: t, target: target}
	p.Up()
	t.Cleanup(p.Down)
	return p
}

// Up listens again after Down.
func (p *Proxy) Up() {
	ln, err := net.Listen("unix", p.Path)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.served.Add(1)
	go func() {
		defer p.served.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("unix", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.open = append(p.open, c, up)
			p.accepted++
			p.mu.Unlock()
			p.mu.Lock()
			renames := p.renames
			p.mu.Unlock()
			go func() { copyCalls(up, c, renames); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

// Down stops listening and drops every connection: the socket is gone.
func (p *Proxy) Down() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	p.mu.Unlock()
	p.Drop()
	p.served.Wait()
}

// Drop closes every connection through the proxy, which keeps listening.
func (p *Proxy) Drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.open {
		c.Close()
	}
	p.open = nil
}

// Accepted is how many connections the proxy has relayed.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Rename makes the proxy send each call of remote procedure from to
// libvirtd as a call of procedure to, its arguments unchanged, so that
// libvirtd answers it as it answers to: with VIR_ERR_NO_SUPPORT, say, from
// a procedure its driver lacks. For connections made after the call.
func (p *Proxy) Rename(from, to uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	renames := map[uint32]uint32{from: to}
	for k, v := range p.renames {
		renames[k] = v
	}
	p.renames = renames
}

// copyCalls relays libvirt RPC messages from src to dst, renaming the
// calls of the remote program's procedures as renames says.
func copyCalls(dst io.Writer, src io.Reader, renames map[uint32]uint32) {
	if len(renames) == 0 {
		io.Copy(dst, src)
		return
	}
	const (
		headerEnd     = 28 // length, program, version, procedure, type, serial, status
		remoteProgram = 0x20008086
		call          = 0
	)
	for {
		var length [4]byte
		if _, err := io.ReadFull(src, length[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(length[:])
		if n < headerEnd || n > 32<<20 {
			return
		}
		msg := make([]byte, n)
		copy(msg, length[:])
		if _, err := io.ReadFull(src, msg[4:]); err != nil {
			return
		}
		be := binary.BigEndian
		if be.Uint32(msg[4:]) == remoteProgram && be.Uint32(msg[16:]) == call {
			if to, ok := renames[be.Uint32(msg[12:])]; ok {
				be.PutUint32(msg[12:], to)
			}
		}
		if _, err := dst.Write(msg); err != nil {
			return
		}
	}
}
