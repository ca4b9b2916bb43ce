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

	"github.com/vadvisor/vadvisor/internal/libvirtval"
	"github.com/vadvisor/vadvisor/internal/outage"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

// ErrNotYet is what Results returns before the first refresh ended.
var ErrNotYet = errors.New("the guest agents have not been asked yet")

// errPending is why a domain whose previous call still waits is down.
var errPending = errors.New("the previous call to this guest's agent has not returned yet")

// errTooManyHung is why a domain is down, not asked, while maxPending
// calls wait for agents that did not answer in time.
var errTooManyHung = fmt.Errorf("%d calls to other guests' agents have not returned yet: no new call until one does", maxPending)

// maxPending bounds the calls that have not returned, those under way and
// those that timed out and still wait for their agent. libvirt waits for
// an agent's answer as long as it takes (only its guest-sync has a
// timeout), holding one of libvirtd's workers and one of the connection's
// request slots: at libvirtconn.MaxInFlight timed-out calls the connection
// would count as wedged and be redialled, and the next refresh would
// strand more workers. One fewer keeps a slot free for the listing, and
// the workers held by us bounded.
const maxPending = libvirtconn.MaxInFlight - 1

// maxLabel bounds the length of the strings taken from a guest: they
// become label values, and the guest is not to be trusted.
const maxLabel = 256

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
	Size, Used libvirtval.Value // bytes, absent if the agent did not say
}

// Info is one domain's answer, or why there is none.
type Info struct {
	Name string
	UUID libvirt.UUID
	Err  error // nil if the agent answered

	OSID, OSVersionID, KernelRelease, Hostname string
	Users                                      libvirtval.Value
	Filesystems                                []Filesystem
}

// Agents refreshes every interval what the active domains' agents say.
type Agents struct {
	conn     *libvirtconn.Conn
	interval time.Duration
	timeout  time.Duration
	logger   *slog.Logger
	outage   outage.Log

	// getInfo makes the call (virDomainGetGuestInfo bounded by timeout);
	// it calls release once libvirt answered, even after it timed out, or
	// at once if the call was never made.
	getInfo func(ctx context.Context, dom libvirt.Domain, release func()) ([]libvirt.TypedParam, error)
	denied  outage.Log // calls libvirt refuses (a read-only connection)
	stalled outage.Log // maxPending calls hang: nobody is asked

	mu      sync.Mutex
	changed *sync.Cond // on mu: a pending call returned or timed out
	results map[libvirt.UUID]Info
	err     error // of the last refresh as a whole
	// pending holds the domains whose call has not returned: false while
	// it runs, true once it timed out (hung).
	pending map[libvirt.UUID]bool
}

// CheckFlags checks the collector's interval and timeout, whether it is
// on or not.
func CheckFlags(interval, timeout time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("--collector.guest-agent.interval must be positive, got %s", interval)
	}
	if timeout <= 0 {
		return fmt.Errorf("--collector.guest-agent.timeout must be positive, got %s", timeout)
	}
	return nil
}

// New asks the agents over conn, which must be a read-write connection of
// this package's own, every interval, each call bounded by timeout.
func New(conn *libvirtconn.Conn, interval, timeout time.Duration, logger *slog.Logger) (*Agents, error) {
	if err := CheckFlags(interval, timeout); err != nil {
		return nil, err
	}
	a := &Agents{
		conn: conn, interval: interval, timeout: timeout, logger: logger,
		err: ErrNotYet, pending: map[libvirt.UUID]bool{},
	}
	a.getInfo = a.call
	a.changed = sync.NewCond(&a.mu)
	return a, nil
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
	_, _ = a.conn.WaitConnected(wait)
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
	a.publish(a.askAll(ctx, a.conn.WatchedOnly(list)), nil)
}

// askAll asks the agents of list, libvirtconn.Workers at a time.
func (a *Agents) askAll(ctx context.Context, list []libvirt.Domain) map[libvirt.UUID]Info {
	infos := make([]Info, len(list))
	libvirtconn.Each(len(list), func(i int) { infos[i] = a.ask(ctx, list[i]) })
	results := make(map[libvirt.UUID]Info, len(infos))
	var denied error
	stalled := false
	for _, info := range infos {
		results[info.UUID] = info
		var le libvirt.Error
		if errors.As(info.Err, &le) && le.Code == uint32(libvirt.ErrOperationDenied) {
			denied = info.Err
		}
		stalled = stalled || errors.Is(info.Err, errTooManyHung)
	}
	if stalled {
		a.stalled.Failed(a.logger, "guest agents not asked: calls to hung agents still wait", "guest agents still not asked",
			"err", errTooManyHung)
	} else {
		a.stalled.Ended()
	}
	if denied != nil {
		a.denied.Failed(a.logger, "libvirt refuses guest-agent calls on this connection: --collector.guest-agent.libvirt-uri must name a read-write socket",
			"libvirt still refuses guest-agent calls", "uri", a.conn.URI(), "err", denied)
	} else {
		a.denied.Ended()
	}
	return results
}

func (a *Agents) publish(results map[libvirt.UUID]Info, err error) {
	a.mu.Lock()
	a.results, a.err = results, err
	a.mu.Unlock()
}

// ask asks one domain's agent, unless its previous call has not
// returned. While maxPending calls have not, it waits for one under way to
// return or time out; if all of them timed out, it asks nothing.
func (a *Agents) ask(ctx context.Context, dom libvirt.Domain) Info {
	info := Info{Name: dom.Name, UUID: dom.UUID}
	if info.Err = a.take(dom.UUID); info.Err != nil {
		return info
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			a.mu.Lock()
			delete(a.pending, dom.UUID)
			a.changed.Broadcast()
			a.mu.Unlock()
		})
	}
	params, err := a.getInfo(ctx, dom, release)
	if libvirtconn.Classify(err) == libvirtconn.TimedOut {
		a.mu.Lock()
		if _, ok := a.pending[dom.UUID]; ok { // not answered since
			a.pending[dom.UUID] = true
			a.changed.Broadcast()
		}
		a.mu.Unlock()
	}
	if err != nil {
		a.logger.Debug("a guest agent did not answer", "domain", dom.Name, "err", err)
		info.Err = err
		return info
	}
	decode(&info, params)
	return info
}

// take makes uuid's call pending, or says why it may not be made.
func (a *Agents) take(uuid libvirt.UUID) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		if _, busy := a.pending[uuid]; busy {
			return errPending
		}
		if len(a.pending) < maxPending {
			a.pending[uuid] = false
			return nil
		}
		hung := 0
		for _, h := range a.pending {
			if h {
				hung++
			}
		}
		if hung == len(a.pending) {
			return errTooManyHung
		}
		// A call under way returns or times out within its bounds.
		a.changed.Wait()
	}
}

// call is getInfo over the connection.
func (a *Agents) call(ctx context.Context, dom libvirt.Domain, release func()) ([]libvirt.TypedParam, error) {
	params, err := libvirtconn.DoWithin(ctx, a.conn, a.timeout, func(l *libvirt.Libvirt) ([]libvirt.TypedParam, error) {
		defer release()
		return l.DomainGetGuestInfo(dom, uint32(types), 0)
	})
	if errors.Is(err, libvirtconn.ErrNotConnected) || errors.Is(err, libvirtconn.ErrNoSlot) {
		release() // the call was never made
	}
	return params, err
}

// label is a string from the guest made fit for a label value: valid
// UTF-8 (the Prometheus client refuses anything else) and at most
// maxLabel bytes.
func label(v libvirt.TypedParamValue) string {
	s := strings.ToValidUTF8(libvirtval.Text(v), "\uFFFD")
	if len(s) > maxLabel {
		s = strings.ToValidUTF8(s[:maxLabel], "")
	}
	return s
}

// decode fills info from virDomainGetGuestInfo's typed parameters.
func decode(info *Info, params []libvirt.TypedParam) {
	var fss []Filesystem
	for _, p := range params {
		switch p.Field {
		case libvirt.DomainGuestInfoOsID:
			info.OSID = label(p.Value)
		case libvirt.DomainGuestInfoOsVersionID:
			info.OSVersionID = label(p.Value)
		case libvirt.DomainGuestInfoOsKernelRelease:
			info.KernelRelease = label(p.Value)
		case libvirt.DomainGuestInfoHostnameHostname:
			info.Hostname = label(p.Value)
		case libvirt.DomainGuestInfoUserCount:
			info.Users = libvirtval.Number(p.Value)
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
				fs.Mountpoint = label(p.Value)
			case libvirt.DomainGuestInfoFsSuffixName:
				fs.Device = label(p.Value)
			case libvirt.DomainGuestInfoFsSuffixFstype:
				fs.Type = label(p.Value)
			case libvirt.DomainGuestInfoFsSuffixTotalBytes:
				fs.Size = libvirtval.Number(p.Value)
			case libvirt.DomainGuestInfoFsSuffixUsedBytes:
				fs.Used = libvirtval.Number(p.Value)
			}
		}
	}
	for _, fs := range fss {
		if fs.Mountpoint != "" {
			info.Filesystems = append(info.Filesystems, fs)
		}
	}
}
