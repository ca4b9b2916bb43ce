package collector

import (
	"github.com/vadvisor/vadvisor/domstats"
)

func init() {
	register(subCollector{
		name:      "openstack",
		help:      "OpenStack Nova instance metadata (name, flavor, project, user) from the domain XML",
		defaultOn: true,
		needsSpec: true,
		update:    updateOpenStack,
	})
}

var openstackInfo = gauge("libvirt_domain_openstack_info", "OpenStack Nova metadata of the domain.",
	"domain", "instance_id", "instance_name", "flavor_name", "project_id", "project_name", "user_id", "user_name")

func updateOpenStack(s *scrape) error {
	doms, err := s.domains()
	if err != nil {
		return err
	}
	for i := range doms {
		d := &doms[i]
		sp := s.specs[d.UUID]
		if sp == nil || sp.nova == nil {
			continue
		}
		n := sp.nova
		openstackInfo.sendFloat(s.ch, 1, d.Name, domstats.UUIDString(d.UUID), n.Name, n.Flavor.Name,
			n.Owner.Project.UUID, n.Owner.Project.Name, n.Owner.User.UUID, n.Owner.User.Name)
	}
	return nil
}
