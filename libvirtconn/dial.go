package libvirtconn

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os/user"
	"strconv"
	"strings"
	"sync"

	"github.com/digitalocean/go-libvirt/socket"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

// ReadOnlySocket is libvirtd's read-only socket, used for local URIs without
// socket=: a monitoring agent never needs to change anything.
const ReadOnlySocket = "/var/run/libvirt/libvirt-sock-ro"

// ReadWriteSocket is libvirtd's read-write socket, which only the
// guest-agent collector uses: libvirt answers guest-agent calls on no
// other.
const ReadWriteSocket = "/var/run/libvirt/libvirt-sock"

// ParseURI checks a libvirt URI and returns it with its transport.
func ParseURI(raw string) (*url.URL, string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", fmt.Errorf("libvirt URI %q: %w", raw, err)
	}
	if u.Scheme == "" {
		return nil, "", fmt.Errorf("libvirt URI %q has no driver (e.g. qemu:///system)", raw)
	}
	transport := "unix"
	if parts := strings.SplitN(u.Scheme, "+", 2); len(parts) == 2 {
		transport = parts[1]
	} else if u.Host != "" {
		transport = "tls"
	}
	switch transport {
	case "unix", "tcp", "tls", "ssh", "libssh", "libssh2":
	default:
		return nil, "", fmt.Errorf("libvirt URI %q: unsupported transport %q (unix, tcp, tls, ssh, libssh)", raw, transport)
	}
	if nv := u.Query().Get("no_verify"); nv != "" {
		if _, err := strconv.Atoi(nv); err != nil {
			return nil, "", fmt.Errorf("libvirt URI %q: no_verify must be 0 or 1", raw)
		}
	}
	return u, transport, nil
}

// newDialer builds go-libvirt's dialer for the URI's transport. It mirrors
// go-libvirt's own choice (which is not exported) so that the connection owner
// holds the net.Conn and can close a connection wedged by hung calls.
func newDialer(u *url.URL, transport string) (socket.Dialer, error) {
	q := u.Query()
	noVerify := q.Get("no_verify") != "" && q.Get("no_verify") != "0"
	switch transport {
	case "unix":
		path := q.Get("socket")
		if path == "" {
			path = ReadOnlySocket
		}
		return dialers.NewLocal(dialers.WithSocket(path)), nil
	case "tcp":
		var opts []dialers.RemoteOption
		if port := u.Port(); port != "" {
			opts = append(opts, dialers.UsePort(port))
		}
		return dialers.NewRemote(u.Hostname(), opts...), nil
	case "tls":
		var opts []dialers.TLSOption
		if port := u.Port(); port != "" {
			opts = append(opts, dialers.UseTLSPort(port))
		}
		if pki := q.Get("pkipath"); pki != "" {
			opts = append(opts, dialers.UsePKIPath(pki))
		}
		if noVerify {
			opts = append(opts, dialers.WithInsecureNoVerify())
		}
		return dialers.NewTLS(u.Hostname(), opts...), nil
	default: // ssh, libssh, libssh2: go-libvirt's pure-Go SSH client
		var opts []dialers.SSHOption
		if transport == "ssh" {
			me, err := user.Current()
			if err != nil {
				return nil, err
			}
			opts = append(opts, dialers.WithSystemSSHDefaults(me))
		}
		if port := u.Port(); port != "" {
			opts = append(opts, dialers.UseSSHPort(port))
		}
		if name := u.User.Username(); name != "" {
			opts = append(opts, dialers.UseSSHUsername(name))
		}
		if pw, ok := u.User.Password(); ok {
			opts = append(opts, dialers.UseSSHPassword(pw))
		}
		if s := q.Get("socket"); s != "" {
			opts = append(opts, dialers.WithRemoteSocket(s))
		}
		if kf := q.Get("keyfile"); kf != "" {
			opts = append(opts, dialers.UseKeyFile(kf))
		}
		if kh := q.Get("known_hosts"); kh != "" {
			opts = append(opts, dialers.UseKnownHostsFile(kh))
		}
		if noVerify {
			opts = append(opts, dialers.WithInsecureIgnoreHostKey())
		}
		return dialers.NewSSH(u.Hostname(), opts...), nil
	}
}

// closableDialer remembers the last connection it dialled so that it can be
// closed from outside: go-libvirt's Disconnect first sends an RPC, which is
// exactly what cannot get through on a wedged connection. Once closed, it
// stays closed: a dial still under way then closes its own connection, so
// a dial that completes after its timeout leaks no socket.
//
// It also tells when the connection is lost (lost), from the socket's own
// reads: go-libvirt's Disconnected channel never closes if the socket
// drops just as ConnectToURI completes (go-libvirt issue 167).
type closableDialer struct {
	socket.Dialer
	lost chan struct{} // closed on the first failed read

	mu     sync.Mutex
	conn   net.Conn
	closed bool
}

func newClosableDialer(inner socket.Dialer) *closableDialer {
	return &closableDialer{Dialer: inner, lost: make(chan struct{})}
}

// errDialerClosed is what a dial gets that completes after close.
var errDialerClosed = errors.New("connection given up before the dial completed")

func (d *closableDialer) Dial() (net.Conn, error) {
	c, err := d.Dialer.Dial()
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		_ = c.Close()
		return nil, errDialerClosed
	}
	d.conn = &watchedConn{Conn: c, lost: d.lost}
	return d.conn, nil
}

func (d *closableDialer) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.conn != nil {
		_ = d.conn.Close()
	}
}

// watchedConn closes lost when a read fails: go-libvirt reads the socket
// all the time, so that is when the connection ends, whoever ends it.
type watchedConn struct {
	net.Conn
	once sync.Once
	lost chan struct{}
}

func (c *watchedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		c.once.Do(func() { close(c.lost) })
	}
	return n, err
}
