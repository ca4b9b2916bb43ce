package collector

func init() {
	register(subCollector{
		name:      "openstack",
		help:      "OpenStack Nova instance metadata (name, flavor, project, user) from the domain XML",
		defaultOn: true,
		needsSpec: true,
		update:    updateOpenStack,
	})
}

// openstackSubsystem names this file's metrics: libvirt_domain_openstack_*.
const openstackSubsystem = "domain_openstack"

var openstackInfo = gauge(openstackSubsystem, "info", "OpenStack Nova metadata of the domain.",
	"domain", "instance_id", "instance_name", "flavor_name", "project_id", "project_name", "user_id", "user_name")

func updateOpenStack(s *scrape) error {
	doms, err := s.domains()
	if err != nil {
		return err
	}
	for i := range doms {
		d := &doms[i]
		if sp := s.specs[d.UUID]; sp != nil {
			if m := sp.infoFor(d.Name, d.UUID).openstack; m != nil {
				s.ch <- m
			}
		}
	}
	return nil
}
