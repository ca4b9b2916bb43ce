package collector

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

func init() {
	register(subCollector{
		name:      versionFamilies.collector,
		help:      "libvirt and hypervisor versions",
		defaultOn: true,
		update:    updateVersion,
	})
}

// versionFamilies are this file's: libvirt_versions_info.
var versionFamilies = group{namespace: namespace, collector: "version"}

var versionInfo = versionFamilies.gauge("versions_info", "Versions of the libvirt daemon and of the hypervisor it drives.",
	"hypervisor_type", "hypervisor_running", "libvirtd_running").
	from(domstats.Count, "virConnectGetType", "virConnectGetVersion", "virConnectGetLibVersion")

// versionTimeout bounds the version calls: libvirtd's QEMU driver takes
// seconds to answer the hypervisor version, far more than a scrape may.
const versionTimeout = 30 * time.Second

type versions struct{ hvType, hv, lib string }

// versionCache holds the versions read on a connection. A scrape that
// finds them missing or read on an earlier connection asks Collector.Run
// to read them, and goes on without waiting.
type versionCache struct {
	mu     sync.Mutex
	conn   uint64 // connection the versions were read on
	v      *versions
	wanted chan uint64 // a connection whose versions a scrape asked for
}

func newVersionCache() versionCache {
	return versionCache{wanted: make(chan uint64, 1)}
}

func updateVersion(s *scrape) error {
	vc := &s.c.version
	current := s.conn.Connects()
	vc.mu.Lock()
	defer vc.mu.Unlock()
	if vc.conn != current {
		select {
		case vc.wanted <- current:
		default: // already asked for
		}
	}
	if vc.v == nil {
		return nil // not read yet: nothing rather than a guess
	}
	versionInfo.sendFloat(s.ch, 1, vc.v.hvType, vc.v.hv, vc.v.lib)
	return nil
}

// Run reads the versions the scrapes ask for until ctx ends; without it
// the version collector exports nothing.
func (c *Collector) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case connection := <-c.version.wanted:
			c.version.fetch(ctx, c.conn, connection)
		}
	}
}

func (vc *versionCache) fetch(ctx context.Context, conn *libvirtconn.Conn, connection uint64) {
	vc.mu.Lock()
	done := vc.conn == connection
	vc.mu.Unlock()
	if done {
		return // asked again while being read
	}
	v, err := libvirtconn.DoWithin(ctx, conn, versionTimeout, func(l *libvirt.Libvirt) (versions, error) {
		hvType, err := l.ConnectGetType()
		if err != nil {
			return versions{}, err
		}
		hv, err := l.ConnectGetVersion()
		if err != nil {
			return versions{}, err
		}
		lib, err := l.ConnectGetLibVersion()
		return versions{hvType, versionString(hv), versionString(lib)}, err
	})
	vc.mu.Lock()
	defer vc.mu.Unlock()
	if err == nil {
		vc.v, vc.conn = &v, connection
	}
}

// versionString turns libvirt's major*1e6 + minor*1e3 + release into text.
func versionString(v uint64) string {
	return fmt.Sprintf("%d.%d.%d", v/1000000, v/1000%1000, v%1000)
}
