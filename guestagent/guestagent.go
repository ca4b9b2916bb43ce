// Package guestagent asks the guest agents of the running domains, in the
// background, what only the guest knows: its filesystems, its operating
// system and host name, and how many users are logged in. libvirt answers
// guest-agent calls only on a read-write connection, so this package owns
// a connection of its own and makes no other calls on it than the listing
// of the active domains and virDomainGetGuestInfo, which only reads.
//
// An agent may hang. Each call is bounded, a domain whose last call still
// waits for its agent is not asked again until that call ends, and a
// scrape only reads the result of the last refresh: a dead agent never
// delays a scrape.
package guestagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/internal/outage"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

// ErrNotYet is what Results returns before the first refresh ended.
var ErrNotYet = errors.New("the guest agents have not been asked yet")

// errPending is why a domain whose previous call still waits is down.
var errPending = errors.New("the previous call to this guest's agent has not returned yet")

// types are the groups asked for: all answered by read-only agent commands
// (guest-get-users, guest-get-osinfo, guest-get-host-name,
// guest-get-fsinfo).
const types = libvirt.DomainGuestInfoUsers | libvirt.DomainGuestInfoOs |
	libvirt.DomainGuestInfoHostname | libvirt.DomainGuestInfoFilesystem

// maxFilesystems bounds the filesystems taken from one answer, so that a
// malformed or hostile one cannot make us allocate without limit.
const maxFilesystems = 256

// Filesystem is one mounted filesystem as the guest reports it.
type Filesystem struct {
	Mountpoint string
	Device     string // the guest's name of the device (vda1, dm-0, ...)
	Type       string
	Size, Used domstats.Value // bytes, absent if the agent did not say
}

// Info is one domain's answer, or why there is none.
type Info struct {
	Name string
	UUID libvirt.UUID
	Err  error // nil if the agent answered

	OSID, OSVersionID, KernelRelease, Hostname string
	Users                                      domstats.Value
	Filesystems                                []Filesystem
}

// Agents refreshes every interval what the active domains' agents say.
type Agents struct {
	conn     *libvirtconn.Conn
	interval time.Duration
	timeout  time.Duration
	logger   *slog.Logger
	outage   outage.Log

	mu      sync.Mutex
	results map[libvirt.UUID]Info
	err     error                 // of the last refresh as a whole
	pending map[libvirt.UUID]bool // domains whose call has not returned
}

// New asks the agents over conn, which must be a read-write connection of
// this package's own, every interval, each call bounded by timeout.
func New(conn *libvirtconn.Conn, interval, timeout time.Duration, logger *slog.Logger) (*Agents, error) {
	if interval <= 0 {
		return nil, fmt.Errorf("--collector.guest-agent.interval must be positive, got %s", interval)
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("--collector.guest-agent.timeout must be positive, got %s", timeout)
	}
	return &Agents{
		conn: conn, interval: interval, timeout: timeout, logger: logger,
		err: ErrNotYet, pending: map[libvirt.UUID]bool{},
	}, nil
}

// Run refreshes at once, then every interval, until ctx ends. The
// connection's own Run must run beside it.
func (a *Agents) Run(ctx context.Context) {
	for {
		a.refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(a.interval):
		}
	}
}

// Results are the answers of the last refresh by domain, never to be
// modified, or why that refresh got none (ErrNotYet before the first).
func (a *Agents) Results() (map[libvirt.UUID]Info, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.results, a.err
}

func (a *Agents) refresh(ctx context.Context) {
	wait, cancel := context.WithTimeout(ctx, a.conn.Timeout())
	a.conn.WaitConnected(wait)
	cancel()
	list, err := libvirtconn.Do(ctx, a.conn, func(l *libvirt.Libvirt) ([]libvirt.Domain, error) {
		doms, _, err := l.ConnectListAllDomains(1, libvirt.ConnectListDomainsActive)
		return doms, err
	})
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		a.outage.Failed(a.logger, "cannot list the domains whose guest agents to ask", "still cannot list the domains whose guest agents to ask",
			"uri", a.conn.URI(), "err", err)
		a.publish(nil, err)
		return
	}
	a.outage.Ended()
	list = a.conn.WatchedOnly(list)
	infos := make([]Info, len(list))
	libvirtconn.Each(len(list), func(i int) { infos[i] = a.ask(ctx, list[i]) })
	results := make(map[libvirt.UUID]Info, len(infos))
	for _, info := range infos {
		results[info.UUID] = info
	}
	a.publish(results, nil)
}

func (a *Agents) publish(results map[libvirt.UUID]Info, err error) {
	a.mu.Lock()
	a.results, a.err = results, err
	a.mu.Unlock()
}

// ask asks one domain's agent, unless its previous call still waits.
func (a *Agents) ask(ctx context.Context, dom libvirt.Domain) Info {
	info := Info{Name: dom.Name, UUID: dom.UUID}
	a.mu.Lock()
	if a.pending[dom.UUID] {
		a.mu.Unlock()
		info.Err = errPending
		return info
	}
	a.pending[dom.UUID] = true
	a.mu.Unlock()
	release := func() {
		a.mu.Lock()
		delete(a.pending, dom.UUID)
		a.mu.Unlock()
	}
	params, err := libvirtconn.DoWithin(ctx, a.conn, a.timeout, func(l *libvirt.Libvirt) ([]libvirt.TypedParam, error) {
		// Released when libvirt answers, even after the call timed out.
		defer release()
		return l.DomainGetGuestInfo(dom, uint32(types), 0)
	})
	if errors.Is(err, libvirtconn.ErrNotConnected) || errors.Is(err, libvirtconn.ErrNoSlot) {
		release() // the call was never made
	}
	if err != nil {
		a.logger.Debug("a guest agent did not answer", "domain", dom.Name, "err", err)
		info.Err = err
		return info
	}
	decode(&info, params)
	return info
}

// decode fills info from virDomainGetGuestInfo's typed parameters.
func decode(info *Info, params []libvirt.TypedParam) {
	var fss []Filesystem
	for _, p := range params {
		switch p.Field {
		case libvirt.DomainGuestInfoOsID:
			info.OSID = domstats.Text(p.Value)
		case libvirt.DomainGuestInfoOsVersionID:
			info.OSVersionID = domstats.Text(p.Value)
		case libvirt.DomainGuestInfoOsKernelRelease:
			info.KernelRelease = domstats.Text(p.Value)
		case libvirt.DomainGuestInfoHostnameHostname:
			info.Hostname = domstats.Text(p.Value)
		case libvirt.DomainGuestInfoUserCount:
			info.Users = domstats.Number(p.Value)
		default:
			rest, ok := strings.CutPrefix(p.Field, libvirt.DomainGuestInfoFsPrefix)
			if !ok {
				continue
			}
			idx, key, ok := strings.Cut(rest, ".")
			i, err := strconv.Atoi(idx)
			if !ok || err != nil || i < 0 || i >= maxFilesystems {
				continue
			}
			for len(fss) <= i {
				fss = append(fss, Filesystem{})
			}
			fs := &fss[i]
			switch "." + key {
			case libvirt.DomainGuestInfoFsSuffixMountpoint:
				fs.Mountpoint = domstats.Text(p.Value)
			case libvirt.DomainGuestInfoFsSuffixName:
				fs.Device = domstats.Text(p.Value)
			case libvirt.DomainGuestInfoFsSuffixFstype:
				fs.Type = domstats.Text(p.Value)
			case libvirt.DomainGuestInfoFsSuffixTotalBytes:
				fs.Size = domstats.Number(p.Value)
			case libvirt.DomainGuestInfoFsSuffixUsedBytes:
				fs.Used = domstats.Number(p.Value)
			}
		}
	}
	for _, fs := range fss {
		if fs.Mountpoint != "" {
			info.Filesystems = append(info.Filesystems, fs)
		}
	}
}
