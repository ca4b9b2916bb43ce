package collector

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

func init() {
	registerCollector(factory{
		name: nodeFamilies.collector,
		// On by default: two small calls per scrape (measured in
		// docs/benchmarks.md); the host's size and layout are read every
		// few minutes.
		help:      "host capacity: CPUs, memory, free memory and huge pages per NUMA node",
		defaultOn: true,
		build: func(d deps) (subCollector, error) {
			return &nodeCollector{logger: d.logger}, nil
		},
	})
}

// nodeFamilies are this file's: libvirt_node_*.
var nodeFamilies = group{namespace: namespace, subsystem: "node", collector: "node"}

var (
	nodeCPUs = nodeFamilies.gauge("cpus",
		"Number of logical CPUs of the host.").
		from(domstats.Count, "virNodeGetInfo")
	nodeMemory = nodeFamilies.gauge("memory_bytes",
		"Memory of the host.").
		from(domstats.KiB, "virNodeGetInfo")
	nodeNUMAFreeMemory = nodeFamilies.gauge("numa_free_memory_bytes",
		"Free memory of a NUMA node of the host.", "numa_node").
		from(domstats.Count, "virNodeGetCellsFreeMemory")
	nodeHugePagesFree = nodeFamilies.gauge("hugepages_free",
		"Free huge pages of a size on a NUMA node of the host.", "numa_node", "size_bytes").
		from(domstats.Count, "virNodeGetFreePages", "virConnectGetCapabilities")
)

// nodeLayout is the host's size (NodeGetInfo) and what its capabilities
// say of its memory: the NUMA cells and the huge page sizes. They change
// only with hardware hot-plug, and cost more than the rest of the
// collector (NodeGetInfo parses /proc/cpuinfo, the capabilities are a
// large XML document), so they are read once per connection and then
// every nodeLayoutMaxAge. A call libvirt refused (a driver that does not
// implement it) is not made again until then: asked again, so that a
// passing failure heals, but not on every scrape.
type nodeLayout struct {
	cpus      int32
	memoryKiB uint64

	cells     []int    // NUMA cell ids
	hugePages []uint32 // KiB; the base page size left out
	cellsFree bool     // NodeGetCellsFreeMemory works
	freePages bool     // NodeGetFreePages works
}

// nodeLayoutMaxAge is how long a host's layout is used before it is read
// again.
const nodeLayoutMaxAge = 10 * time.Minute

// nodeCollector keeps the host's layout between scrapes.
type nodeCollector struct {
	logger *slog.Logger

	mu         sync.Mutex // held while the layout is read
	connection uint64     // the layout was read on
	read       time.Time  // when
	layout     *nodeLayout
}

func (nc *nodeCollector) update(s *scrape) error {
	connection := s.conn.Connects()
	layout, err := nc.get(s, connection)
	if err != nil {
		return err
	}
	nodeCPUs.sendFloat(s.ch, float64(layout.cpus))
	nodeMemory.send(s.ch, libvirtval.Value{V: layout.memoryKiB, OK: true})
	refused := func(call string, err error) bool {
		var lerr libvirt.Error
		if !errors.As(err, &lerr) {
			return false
		}
		// libvirt answered, and said no: a driver without the call
		// (through libvirtd, the test driver fails NodeGetFreePages
		// without saying why).
		nc.refuse(connection, call, err)
		return true
	}
	if layout.cellsFree && len(layout.cells) > 0 {
		free, err := forCells(s, layout.cells, func(l *libvirt.Libvirt, start int, n int) ([]uint64, error) {
			return l.NodeGetCellsFreeMemory(int32(start), int32(n))
		}, 1)
		switch {
		case err == nil:
			for i, id := range layout.cells {
				nodeNUMAFreeMemory.sendFloat(s.ch, float64(free[i]), strconv.Itoa(id))
			}
		case !refused("NodeGetCellsFreeMemory", err):
			return err
		}
	}
	if layout.freePages && len(layout.cells) > 0 && len(layout.hugePages) > 0 {
		pages := layout.hugePages
		counts, err := forCells(s, layout.cells, func(l *libvirt.Libvirt, start int, n int) ([]uint64, error) {
			return l.NodeGetFreePages(pages, int32(start), uint32(n), 0)
		}, len(pages))
		switch {
		case err == nil:
			for i, id := range layout.cells {
				for j, size := range pages {
					nodeHugePagesFree.sendFloat(s.ch, float64(counts[i*len(pages)+j]), strconv.Itoa(id), strconv.FormatUint(uint64(size)*1024, 10))
				}
			}
		case !refused("NodeGetFreePages", err):
			return err
		}
	}
	return nil
}

// forCells makes a per-cell call over cells, per figures per cell: one
// call for cells numbered 0 to n-1, as they nearly always are, one call
// per cell otherwise.
func forCells(s *scrape, cells []int, call func(l *libvirt.Libvirt, start, n int) ([]uint64, error), per int) ([]uint64, error) {
	contiguous := true
	for i, id := range cells {
		contiguous = contiguous && id == i
	}
	if contiguous {
		return checkedCall(s, 0, len(cells), per, call)
	}
	var out []uint64
	for _, id := range cells {
		v, err := checkedCall(s, id, 1, per, call)
		if err != nil {
			return nil, err
		}
		out = append(out, v...)
	}
	return out, nil
}

func checkedCall(s *scrape, start, n, per int, call func(l *libvirt.Libvirt, start, n int) ([]uint64, error)) ([]uint64, error) {
	v, err := libvirtconn.Do(s.ctx, s.conn, func(l *libvirt.Libvirt) ([]uint64, error) {
		return call(l, start, n)
	})
	if err == nil && len(v) != n*per {
		return nil, fmt.Errorf("libvirt gave %d figures for %d NUMA nodes, want %d", len(v), n, n*per)
	}
	return v, err
}

// get is the layout of the host on the scrape's connection, read if it was
// not yet, or too long ago. If reading it again fails, the layout read on
// the same connection still holds: it is used, and the read tried again
// a minute later.
func (nc *nodeCollector) get(s *scrape, current uint64) (nodeLayout, error) {
	nc.mu.Lock()
	defer nc.mu.Unlock()
	if nc.layout != nil && nc.connection == current && time.Since(nc.read) < nodeLayoutMaxAge {
		return *nc.layout, nil
	}
	layout, err := readLayout(s)
	switch {
	case err == nil:
		nc.layout, nc.connection, nc.read = layout, current, time.Now()
		return *layout, nil
	case nc.layout != nil && nc.connection == current:
		nc.read = time.Now().Add(time.Minute - nodeLayoutMaxAge)
		return *nc.layout, nil
	default:
		return nodeLayout{}, err
	}
}

// readLayout reads the host's size and capabilities.
func readLayout(s *scrape) (*nodeLayout, error) {
	type answer struct {
		caps      string
		cpus      int32
		memoryKiB uint64
	}
	a, err := libvirtconn.Do(s.ctx, s.conn, func(l *libvirt.Libvirt) (answer, error) {
		_, memory, cpus, _, _, _, _, _, err := l.NodeGetInfo()
		if err != nil {
			return answer{}, err
		}
		caps, err := l.ConnectGetCapabilities()
		return answer{caps, cpus, memory}, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the host's size and capabilities: %w", err)
	}
	var caps libvirtxml.Caps
	if err := caps.Unmarshal(a.caps); err != nil {
		return nil, fmt.Errorf("reading the host's capabilities: %w", err)
	}
	layout := layoutOf(&caps)
	layout.cpus, layout.memoryKiB = a.cpus, a.memoryKiB
	return layout, nil
}

// maxNodeCells bounds the NUMA cells asked about (libvirt's own limit on
// a reply is 1024).
const maxNodeCells = 1024

func layoutOf(caps *libvirtxml.Caps) *nodeLayout {
	layout := &nodeLayout{cellsFree: true, freePages: true}
	if numa := caps.Host.NUMA; numa != nil && numa.Cells != nil {
		for _, c := range numa.Cells.Cells {
			if len(layout.cells) < maxNodeCells {
				layout.cells = append(layout.cells, c.ID)
			}
		}
	}
	if cpu := caps.Host.CPU; cpu != nil {
		// The first size is the base page, which is not a huge page.
		for i, p := range cpu.PageSizes {
			if kib, ok := pageKiB(p); ok && i > 0 {
				layout.hugePages = append(layout.hugePages, kib)
			}
		}
	}
	return layout
}

func pageKiB(p libvirtxml.CapsHostCPUPageSize) (uint32, bool) {
	if p.Size <= 0 || p.Size > 1<<30 {
		return 0, false
	}
	switch p.Unit {
	case "", "KiB", "k", "K":
		return uint32(p.Size), true
	case "MiB", "M":
		return uint32(p.Size) << 10, p.Size < 1<<20
	}
	return 0, false
}

// refuse remembers that libvirt refused a call on the layout read on a
// connection, and says so once.
func (nc *nodeCollector) refuse(connection uint64, call string, err error) {
	nc.mu.Lock()
	defer nc.mu.Unlock()
	if nc.connection != connection || nc.layout == nil {
		return // a new connection: it gets to try
	}
	flag := &nc.layout.cellsFree
	if call == "NodeGetFreePages" {
		flag = &nc.layout.freePages
	}
	if !*flag {
		return // another scrape found it first
	}
	*flag = false
	nc.logger.Info("libvirt refused a host call; its figures are left out until the host's layout is read again (every 10 minutes, and on a new connection)", "call", call, "err", err)
}
