package collector

import (
	"context"
	"encoding/xml"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/prometheus/client_golang/prometheus"
	"libvirt.org/go/libvirtxml"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/domxml"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
)

// specTTL bounds how long a parsed definition is trusted; it is refreshed
// sooner when the domain restarts or reports a device it does not name.
const specTTL = 5 * time.Minute

// spec is what the collectors need from a domain's XML definition,
// worked out once per definition (specOf).
type spec struct {
	osType, arch, machine string
	disks                 map[string]diskSpec // by target device
	ifaces                map[string]ifaceSpec
	nova                  *novaInstance
	statsPeriod           uint // the balloon's stats period, s; 0: the guest reports no memory figures

	mu   sync.Mutex
	info *infoMetrics
}

// infoMetrics are a domain's info series. They change only with its
// definition or name, so they are built once, not on every scrape.
type infoMetrics struct {
	name      string
	domain    prometheus.Metric
	openstack prometheus.Metric // nil without Nova metadata
	blocks    []prometheus.Metric
	ifaces    []prometheus.Metric
}

// infoFor returns the info series of the domain with this definition.
func (s *spec) infoFor(name string, uuid libvirt.UUID) *infoMetrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.info != nil && s.info.name == name {
		return s.info
	}
	id := libvirtval.UUIDString(uuid)
	m := &infoMetrics{
		name:   name,
		domain: prometheus.MustNewConstMetric(domainInfo.desc, prometheus.GaugeValue, 1, name, id, s.osType, s.arch, s.machine),
	}
	if n := s.nova; n != nil {
		m.openstack = prometheus.MustNewConstMetric(openstackInfo.desc, prometheus.GaugeValue, 1, name, id, n.Name, n.Flavor.Name,
			n.Owner.Project.UUID, n.Owner.Project.Name, n.Owner.User.UUID, n.Owner.User.Name)
	}
	for _, t := range sortedKeys(s.disks) {
		d := s.disks[t]
		m.blocks = append(m.blocks, prometheus.MustNewConstMetric(blockInfo.desc, prometheus.GaugeValue, 1, name, t,
			d.diskType, d.bus, d.driverName, d.driverType, d.driverCache, d.driverDiscard, d.serial, d.sourceFile, d.sourceProtocol))
	}
	for _, t := range sortedKeys(s.ifaces) {
		i := s.ifaces[t]
		m.ifaces = append(m.ifaces, prometheus.MustNewConstMetric(ifaceInfo.desc, prometheus.GaugeValue, 1, name, t,
			i.ifaceType, i.bridge, i.mac, i.model, i.mtu))
	}
	s.info = m
	return m
}

type diskSpec struct {
	diskType, bus, driverName, driverType, driverCache, driverDiscard string
	serial, sourceFile, sourceProtocol                                string
}

type ifaceSpec struct {
	ifaceType, bridge, mac, model, mtu string
}

// novaInstance is OpenStack Nova's metadata in the domain XML.
type novaInstance struct {
	Name   string `xml:"name"`
	Flavor struct {
		Name string `xml:"name,attr"`
	} `xml:"flavor"`
	Owner struct {
		User struct {
			UUID string `xml:"uuid,attr"`
			Name string `xml:",chardata"`
		} `xml:"user"`
		Project struct {
			UUID string `xml:"uuid,attr"`
			Name string `xml:",chardata"`
		} `xml:"project"`
	} `xml:"owner"`
}

// specOf is what the collectors export of def.
func specOf(def *domxml.Definition) *spec {
	return def.Derived(func(d *libvirtxml.Domain) any { return newSpec(d) }).(*spec)
}

// newSpec extracts the facts the collectors export from a definition.
func newSpec(d *libvirtxml.Domain) *spec {
	s := &spec{disks: map[string]diskSpec{}, ifaces: map[string]ifaceSpec{}}
	if d.OS != nil && d.OS.Type != nil {
		s.osType, s.arch, s.machine = d.OS.Type.Type, d.OS.Type.Arch, d.OS.Type.Machine
	}
	if d.Devices != nil {
		if mb := d.Devices.MemBalloon; mb != nil && mb.Stats != nil {
			s.statsPeriod = mb.Stats.Period
		}
		for _, disk := range d.Devices.Disks {
			if disk.Target == nil || disk.Target.Dev == "" {
				continue
			}
			ds := diskSpec{bus: disk.Target.Bus, serial: disk.Serial}
			if drv := disk.Driver; drv != nil {
				ds.driverName, ds.driverType, ds.driverCache, ds.driverDiscard = drv.Name, drv.Type, drv.Cache, drv.Discard
			}
			if src := disk.Source; src != nil {
				switch {
				case src.File != nil:
					ds.diskType, ds.sourceFile = "file", src.File.File
				case src.Block != nil:
					ds.diskType, ds.sourceFile = "block", src.Block.Dev
				case src.Network != nil:
					ds.diskType, ds.sourceProtocol, ds.sourceFile = "network", src.Network.Protocol, src.Network.Name
				case src.Volume != nil:
					ds.diskType, ds.sourceFile = "volume", src.Volume.Pool+"/"+src.Volume.Volume
				case src.Dir != nil:
					ds.diskType, ds.sourceFile = "dir", src.Dir.Dir
				}
			}
			s.disks[disk.Target.Dev] = ds
		}
		for _, nic := range d.Devices.Interfaces {
			if nic.Target == nil || nic.Target.Dev == "" {
				continue // no device on the host: no stats either
			}
			is := ifaceSpec{}
			if nic.MAC != nil {
				is.mac = nic.MAC.Address
			}
			if nic.Model != nil {
				is.model = nic.Model.Type
			}
			if nic.MTU != nil {
				is.mtu = strconv.FormatUint(uint64(nic.MTU.Size), 10)
			}
			if src := nic.Source; src != nil {
				switch {
				case src.Bridge != nil:
					is.ifaceType, is.bridge = "bridge", src.Bridge.Bridge
				case src.Network != nil:
					is.ifaceType, is.bridge = "network", src.Network.Bridge
				case src.Direct != nil:
					is.ifaceType, is.bridge = "direct", src.Direct.Dev
				case src.Ethernet != nil:
					is.ifaceType = "ethernet"
				case src.User != nil:
					is.ifaceType = "user"
				case src.VHostUser != nil:
					is.ifaceType = "vhostuser"
				case src.Hostdev != nil:
					is.ifaceType = "hostdev"
				case src.VDPA != nil:
					is.ifaceType = "vdpa"
				}
			}
			s.ifaces[nic.Target.Dev] = is
		}
	}
	if d.Metadata != nil {
		s.nova = parseNova(d.Metadata.XML)
	}
	return s
}

func parseNova(metadata string) *novaInstance {
	// The metadata holds elements of any namespace; find Nova's instance.
	dec := xml.NewDecoder(strings.NewReader(metadata))
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		start, ok := tok.(xml.StartElement)
		if !ok || start.Name.Local != "instance" || !isNovaNamespace(start.Name.Space) {
			continue
		}
		var n novaInstance
		if dec.DecodeElement(&n, &start) != nil {
			return nil
		}
		return &n
	}
}

func isNovaNamespace(ns string) bool {
	return strings.HasPrefix(ns, "http://openstack.org/xmlns/libvirt/nova/")
}

// lookupSpecs returns the specs of the domains of a reading, all there
// are. A domain's definition is fetched again when the domain restarted,
// names a device its definition lacks (a hot-plug), or after specTTL; it
// is parsed again only if it changed. A domain whose XML cannot be had is
// left out.
func lookupSpecs(ctx context.Context, defs *domxml.Cache, doms []domstats.Domain) map[libvirt.UUID]*spec {
	refs := make([]libvirt.Domain, len(doms))
	for i := range doms {
		refs[i] = doms[i].Ref()
	}
	recent := defs.Recent(ctx, refs, specTTL, func(i int, def *domxml.Definition) bool {
		return !specOf(def).names(&doms[i])
	})
	out := make(map[libvirt.UUID]*spec, len(recent))
	for uuid, def := range recent {
		out[uuid] = specOf(def)
	}
	return out
}

// names reports whether the definition knows every device the stats name,
// so that a hot-plugged device refreshes it.
func (s *spec) names(d *domstats.Domain) bool {
	for _, b := range d.Blocks {
		if _, ok := s.disks[b.Name]; !ok && b.Name != "" {
			return false
		}
	}
	for _, n := range d.Nets {
		if _, ok := s.ifaces[n.Name]; !ok && n.Name != "" {
			return false
		}
	}
	return true
}
