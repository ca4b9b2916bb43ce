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

// definitionMaxAge bounds how long a parsed definition is trusted; it is
// fetched again sooner when the domain restarts or reports a device it
// does not name.
const definitionMaxAge = 5 * time.Minute

// definition is what the collectors export of a domain's definition,
// worked out once per definition (definitionOf).
type definition struct {
	osType, arch, machine string
	blocks                map[string]blockDef // by target device
	nets                  map[string]netDef   // by target device
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
	nets      []prometheus.Metric
}

// infoFor returns the info series of the domain with this definition.
func (def *definition) infoFor(name string, uuid libvirt.UUID) *infoMetrics {
	def.mu.Lock()
	defer def.mu.Unlock()
	if def.info != nil && def.info.name == name {
		return def.info
	}
	id := libvirtval.UUIDString(uuid)
	m := &infoMetrics{
		name:   name,
		domain: prometheus.MustNewConstMetric(domainInfo.desc, prometheus.GaugeValue, 1, name, id, def.osType, def.arch, def.machine),
	}
	if n := def.nova; n != nil {
		m.openstack = prometheus.MustNewConstMetric(openstackInfo.desc, prometheus.GaugeValue, 1, name, id, n.Name, n.Flavor.Name,
			n.Owner.Project.UUID, n.Owner.Project.Name, n.Owner.User.UUID, n.Owner.User.Name)
	}
	for _, t := range sortedKeys(def.blocks) {
		b := def.blocks[t]
		m.blocks = append(m.blocks, prometheus.MustNewConstMetric(blockInfo.desc, prometheus.GaugeValue, 1, name, t,
			b.diskType, b.bus, b.driverName, b.driverType, b.driverCache, b.driverDiscard, b.serial, b.sourceFile, b.sourceProtocol))
	}
	for _, t := range sortedKeys(def.nets) {
		n := def.nets[t]
		m.nets = append(m.nets, prometheus.MustNewConstMetric(netInfo.desc, prometheus.GaugeValue, 1, name, t,
			n.netType, n.bridge, n.mac, n.model, n.mtu))
	}
	def.info = m
	return m
}

// blockDef is a disk of the definition.
type blockDef struct {
	diskType, bus, driverName, driverType, driverCache, driverDiscard string
	serial, sourceFile, sourceProtocol                                string
}

// netDef is a network interface of the definition.
type netDef struct {
	netType, bridge, mac, model, mtu string
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

// definitionOf is what the collectors export of def.
func definitionOf(def *domxml.Definition) *definition {
	return def.Derived(func(d *libvirtxml.Domain) any { return newDefinition(d) }).(*definition)
}

// newDefinition extracts what the collectors export from a parsed domain
// XML.
func newDefinition(d *libvirtxml.Domain) *definition {
	def := &definition{blocks: map[string]blockDef{}, nets: map[string]netDef{}}
	if d.OS != nil && d.OS.Type != nil {
		def.osType, def.arch, def.machine = d.OS.Type.Type, d.OS.Type.Arch, d.OS.Type.Machine
	}
	if d.Devices != nil {
		if mb := d.Devices.MemBalloon; mb != nil && mb.Stats != nil {
			def.statsPeriod = mb.Stats.Period
		}
		for _, disk := range d.Devices.Disks {
			if disk.Target == nil || disk.Target.Dev == "" {
				continue
			}
			bd := blockDef{bus: disk.Target.Bus, serial: disk.Serial}
			if drv := disk.Driver; drv != nil {
				bd.driverName, bd.driverType, bd.driverCache, bd.driverDiscard = drv.Name, drv.Type, drv.Cache, drv.Discard
			}
			if src := disk.Source; src != nil {
				switch {
				case src.File != nil:
					bd.diskType, bd.sourceFile = "file", src.File.File
				case src.Block != nil:
					bd.diskType, bd.sourceFile = "block", src.Block.Dev
				case src.Network != nil:
					bd.diskType, bd.sourceProtocol, bd.sourceFile = "network", src.Network.Protocol, src.Network.Name
				case src.Volume != nil:
					bd.diskType, bd.sourceFile = "volume", src.Volume.Pool+"/"+src.Volume.Volume
				case src.Dir != nil:
					bd.diskType, bd.sourceFile = "dir", src.Dir.Dir
				}
			}
			def.blocks[disk.Target.Dev] = bd
		}
		for _, net := range d.Devices.Interfaces {
			if net.Target == nil || net.Target.Dev == "" {
				continue // no device on the host: no stats either
			}
			nd := netDef{}
			if net.MAC != nil {
				nd.mac = net.MAC.Address
			}
			if net.Model != nil {
				nd.model = net.Model.Type
			}
			if net.MTU != nil {
				nd.mtu = strconv.FormatUint(uint64(net.MTU.Size), 10)
			}
			if src := net.Source; src != nil {
				switch {
				case src.Bridge != nil:
					nd.netType, nd.bridge = "bridge", src.Bridge.Bridge
				case src.Network != nil:
					nd.netType, nd.bridge = "network", src.Network.Bridge
				case src.Direct != nil:
					nd.netType, nd.bridge = "direct", src.Direct.Dev
				case src.Ethernet != nil:
					nd.netType = "ethernet"
				case src.User != nil:
					nd.netType = "user"
				case src.VHostUser != nil:
					nd.netType = "vhostuser"
				case src.Hostdev != nil:
					nd.netType = "hostdev"
				case src.VDPA != nil:
					nd.netType = "vdpa"
				}
			}
			def.nets[net.Target.Dev] = nd
		}
	}
	if d.Metadata != nil {
		def.nova = parseNova(d.Metadata.XML)
	}
	return def
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

// lookupDefinitions returns the definitions of the domains of a reading,
// all there are. A domain's XML is fetched again when the domain
// restarted, names a device its definition lacks (a hot-plug), or after
// definitionMaxAge; it is parsed again only if it changed. A domain whose
// XML cannot be had is left out.
func lookupDefinitions(ctx context.Context, defs *domxml.Cache, doms []domstats.Domain) map[libvirt.UUID]*definition {
	refs := make([]libvirt.Domain, len(doms))
	for i := range doms {
		refs[i] = doms[i].Ref()
	}
	recent := defs.Recent(ctx, refs, definitionMaxAge, func(i int, def *domxml.Definition) bool {
		return !definitionOf(def).names(&doms[i])
	})
	out := make(map[libvirt.UUID]*definition, len(recent))
	for uuid, def := range recent {
		out[uuid] = definitionOf(def)
	}
	return out
}

// names reports whether the definition knows every device the stats name,
// so that a hot-plugged device refreshes it.
func (def *definition) names(d *domstats.Domain) bool {
	for _, b := range d.Blocks {
		if _, ok := def.blocks[b.Name]; !ok && b.Name != "" {
			return false
		}
	}
	for _, n := range d.Nets {
		if _, ok := def.nets[n.Name]; !ok && n.Name != "" {
			return false
		}
	}
	return true
}
