// Package libvirtconn owns the connection to libvirt: it dials any libvirt
// URI, notices a dropped connection, redials with backoff, and bounds every
// call in time (go-libvirt's RPCs take no context).
package libvirtconn

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/internal/outage"
)

// MaxInFlight bounds the calls outstanding on the connection, below
// libvirtd's max_client_requests (5 by default). See docs/design.md,
// "Request slots".
const MaxInFlight = 4

const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// Conn is the one connection to libvirt that the collector, the history
// sampler and the event subscriber share.
type Conn struct {
	uri       *url.URL
	transport string
	timeout   time.Duration
	logger    *slog.Logger
	slots     chan struct{}
	kick      chan struct{}
	outage    outage.Log
	filter    *Filter // set before Run, never changed after

	mu        sync.Mutex
	client    *libvirt.Libvirt
	dialer    *closableDialer
	ready     chan struct{} // closed while connected
	lastErr   error
	abandoned int // timed-out calls still pending on the connection
	connects  uint64
}

// New checks the URI; the connection itself is made by Run.
func New(rawURI string, timeout time.Duration, logger *slog.Logger) (*Conn, error) {
	u, transport, err := ParseURI(rawURI)
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("libvirt timeout must be positive, got %s", timeout)
	}
	return &Conn{
		uri:       u,
		transport: transport,
		timeout:   timeout,
		logger:    logger,
		slots:     make(chan struct{}, MaxInFlight),
		kick:      make(chan struct{}, 1),
		ready:     make(chan struct{}),
		lastErr:   ErrNotConnected,
	}, nil
}

// URI is the libvirt URI this connection dials, without credentials.
func (c *Conn) URI() string { return c.uri.Redacted() }

// Timeout is the bound of a single libvirt call.
func (c *Conn) Timeout() time.Duration { return c.timeout }

// SetFilter sets the domains that everything reading over this connection
// watches; call it before Run. Every reader of domains (the bulk reading,
// the events, the specs, the guest agents) asks Watched.
func (c *Conn) SetFilter(f *Filter) { c.filter = f }

// Sibling checks rawURI for a connection of its own (the guest agents'),
// with c's timeout and domain filter: set the filter first.
func (c *Conn) Sibling(rawURI string, logger *slog.Logger) (*Conn, error) {
	s, err := New(rawURI, c.timeout, logger)
	if err == nil {
		s.filter = c.filter
	}
	return s, err
}

// Filtering reports whether some domains may be left out.
func (c *Conn) Filtering() bool { return c != nil && c.filter != nil }

// Watched reports whether the domain named name is watched.
func (c *Conn) Watched(name string) bool { return c == nil || c.filter.Watched(name) }

// WatchedOnly keeps the watched domains of doms.
func (c *Conn) WatchedOnly(doms []libvirt.Domain) []libvirt.Domain {
	if !c.Filtering() {
		return doms
	}
	kept := make([]libvirt.Domain, 0, len(doms))
	for _, d := range doms {
		if c.Watched(d.Name) {
			kept = append(kept, d)
		}
	}
	return kept
}

// Run keeps the connection up until ctx ends, then closes it.
func (c *Conn) Run(ctx context.Context) {
	backoff := minBackoff
	for {
		client, dialer, err := c.dial()
		if err != nil {
			c.mu.Lock()
			c.lastErr = fmt.Errorf("%w: %v", ErrNotConnected, err)
			c.mu.Unlock()
			c.outage.Failed(c.logger, "cannot connect to libvirt, retrying with backoff", "libvirt still unreachable",
				"uri", c.URI(), "err", err, "backoff", backoff)
			select {
			case <-ctx.Done():
				return
			case <-c.kick:
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		backoff = minBackoff
		c.outage.Ended()
		c.mu.Lock()
		c.client, c.dialer, c.abandoned = client, dialer, 0
		c.connects++
		close(c.ready)
		c.mu.Unlock()
		c.logger.Info("connected to libvirt", "uri", c.URI())
		// A redial asked for while connecting is answered.
		select {
		case <-c.kick:
		default:
		}

		select {
		case <-dialer.lost:
			c.logger.Warn("lost the connection to libvirt", "uri", c.URI())
		case <-ctx.Done():
		}
		c.lose(client)
		if ctx.Err() != nil {
			dialer.close()
			return
		}
	}
}

// dial connects, bounded by the call timeout: a socket that accepts but
// never answers must not stall the loop. A dial that completes after that
// is closed by the dialer itself.
func (c *Conn) dial() (*libvirt.Libvirt, *closableDialer, error) {
	inner, err := newDialer(c.uri, c.transport)
	if err != nil {
		return nil, nil, err
	}
	d := newClosableDialer(inner)
	client := libvirt.NewWithDialer(d)
	done := make(chan error, 1)
	go func() { done <- client.ConnectToURI(libvirt.RemoteURI(c.uri)) }()
	timer := time.NewTimer(c.timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			d.close()
			return nil, nil, err
		}
		return client, d, nil
	case <-timer.C:
		d.close()
		return nil, nil, fmt.Errorf("connecting took longer than %s", c.timeout)
	}
}

// Client returns the current client, or an error saying why there is none.
func (c *Conn) Client() (*libvirt.Libvirt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil {
		return nil, c.lastErr
	}
	return c.client, nil
}

// Connected reports whether there is a connection right now.
func (c *Conn) Connected() bool {
	_, err := c.Client()
	return err == nil
}

// Connects counts the connections made so far.
func (c *Conn) Connects() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connects
}

// WaitConnected returns the client once there is one, asking a backing-off
// redial loop to try again now.
func (c *Conn) WaitConnected(ctx context.Context) (*libvirt.Libvirt, error) {
	for {
		c.mu.Lock()
		client, ready, lastErr := c.client, c.ready, c.lastErr
		c.mu.Unlock()
		if client != nil {
			return client, nil
		}
		select {
		case c.kick <- struct{}{}:
		default:
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, lastErr
		}
	}
}

// Do runs one libvirt call bounded by ctx and the call timeout. A call that
// times out runs on until libvirt answers; when such calls hold every
// request slot, Do closes the connection so that Run redials. See
// docs/design.md, "Bounded calls" and "Request slots".
func Do[T any](ctx context.Context, c *Conn, call func(*libvirt.Libvirt) (T, error)) (T, error) {
	return DoWithin(ctx, c, c.timeout, call)
}

// DoWithin is Do with another bound than the call timeout, for the few
// calls known to be slow (the hypervisor version takes libvirtd seconds).
// The wait for a request slot is bounded apart, by ctx and the call
// timeout.
func DoWithin[T any](ctx context.Context, c *Conn, timeout time.Duration, call func(*libvirt.Libvirt) (T, error)) (T, error) {
	var zero T
	client, err := c.Client()
	if err != nil {
		return zero, err
	}
	wait := time.NewTimer(c.timeout)
	select {
	case c.slots <- struct{}{}:
		wait.Stop()
	case <-wait.C:
		return zero, ErrNoSlot
	case <-ctx.Done():
		wait.Stop()
		return zero, fmt.Errorf("%w: %v", ErrNoSlot, ctx.Err())
	}
	// Slots free up when the connection is lost under the calls that held
	// them: a call that waited for one would go to the closed client, and
	// never out.
	if !c.live(client) {
		<-c.slots
		return zero, fmt.Errorf("%w: connection lost", ErrNotConnected)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := call(client)
		<-c.slots
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		c.abandon(client, func() { <-done })
		return zero, ErrTimeout
	}
}

// live reports whether client is the current client and its socket has
// not failed (which happens before go-libvirt fails the calls in flight).
func (c *Conn) live(client *libvirt.Libvirt) bool {
	c.mu.Lock()
	current, dialer := c.client, c.dialer
	c.mu.Unlock()
	if current != client {
		return false
	}
	select {
	case <-dialer.lost:
		return false
	default:
		return true
	}
}

// Workers is how many calls a fan-out over domains or pools makes at once:
// one fewer than MaxInFlight. See docs/design.md, "Request slots".
const Workers = MaxInFlight - 1

// Each runs fn(i) for every i in [0, n) on at most Workers goroutines, and
// returns when all have run. fn makes its own bounded calls.
func Each(n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, Workers) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// lose forgets client, if it is still the current one: callers wait for
// the next connection from then on.
func (c *Conn) lose(client *libvirt.Libvirt) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != client {
		return
	}
	c.client, c.dialer = nil, nil
	c.ready = make(chan struct{})
	c.lastErr = fmt.Errorf("%w: connection lost", ErrNotConnected)
}

func (c *Conn) abandon(client *libvirt.Libvirt, wait func()) {
	c.mu.Lock()
	if c.client != client {
		c.mu.Unlock()
		return
	}
	c.abandoned++
	wedged := c.abandoned >= MaxInFlight
	dialer := c.dialer
	c.mu.Unlock()
	if wedged {
		c.logger.Warn("every libvirt request slot is held by a hung call; reconnecting", "uri", c.URI())
		// No call gets the wedged client from now on, even before Run sees
		// its socket close.
		c.lose(client)
		dialer.close()
	}
	go func() {
		wait()
		c.mu.Lock()
		if c.client == client {
			c.abandoned--
		}
		c.mu.Unlock()
	}()
}
