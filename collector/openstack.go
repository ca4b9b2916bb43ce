package collector

import "github.com/vadvisor/vadvisor/domstats"

func init() {
	registerCollector(factory{
		name:            openstackFamilies.collector,
		help:            "OpenStack Nova instance metadata (name, flavor, project, user) from the domain XML",
		defaultOn:       true,
		needsDefinition: true,
		build:           stateless(updateOpenStack),
	})
}

// openstackFamilies are this file's: libvirt_domain_openstack_*.
var openstackFamilies = group{namespace: namespace, subsystem: "domain_openstack", collector: "openstack"}

var openstackInfo = openstackFamilies.gauge("info", "OpenStack Nova metadata of the domain.",
	"domain", "instance_id", "instance_name", "flavor_name", "project_id", "project_name", "user_id", "user_name").
	from(domstats.Count, "<metadata><nova:instance>")

func updateOpenStack(s *scrape) error {
	doms, err := s.domains()
	if err != nil {
		return err
	}
	for i := range doms {
		d := &doms[i]
		if def := s.defs[d.UUID]; def != nil {
			if m := def.infoFor(d.Name, d.UUID).openstack; m != nil {
				s.ch <- m
			}
		}
	}
	return nil
}
