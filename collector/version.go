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
	registerCollector(factory{
		name:      versionFamilies.collector,
		help:      "libvirt and hypervisor versions",
		defaultOn: true,
		build: func(d deps) (subCollector, error) {
			return &versionCollector{conn: d.conn, wanted: make(chan uint64, 1)}, nil
		},
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

// versionCollector holds the versions read on a connection. A scrape that
// finds them missing or read on an earlier connection asks run to read
// them, and goes on without waiting.
type versionCollector struct {
	conn *libvirtconn.Conn

	mu         sync.Mutex
	connection uint64 // the versions were read on
	v          *versions
	wanted     chan uint64 // a connection whose versions a scrape asked for
}

func (vc *versionCollector) update(s *scrape) error {
	current := s.conn.Connects()
	vc.mu.Lock()
	defer vc.mu.Unlock()
	if vc.connection != current {
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

// run reads the versions the scrapes ask for until ctx ends.
func (vc *versionCollector) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case connection := <-vc.wanted:
			vc.fetch(ctx, connection)
		}
	}
}

func (vc *versionCollector) fetch(ctx context.Context, connection uint64) {
	vc.mu.Lock()
	done := vc.connection == connection
	vc.mu.Unlock()
	if done {
		return // asked again while being read
	}
	v, err := libvirtconn.DoWithin(ctx, vc.conn, versionTimeout, func(l *libvirt.Libvirt) (versions, error) {
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
		vc.v, vc.connection = &v, connection
	}
}

// versionString turns libvirt's major*1e6 + minor*1e3 + release into text.
func versionString(v uint64) string {
	return fmt.Sprintf("%d.%d.%d", v/1000000, v/1000%1000, v%1000)
}
