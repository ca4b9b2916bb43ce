package testbed

import (
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
	ln       net.Listener
	open     []net.Conn
	accepted int
	served   sync.WaitGroup
}

// NewProxy relays a new socket to target until the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
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
			go func() { io.Copy(up, c); up.Close() }()
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
