package main

// The sources of figures whose cost the cost part measures one by one:
// bulk calls by groups and per-domain calls.

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

// statsGroups names the bulk call's groups as virsh domstats does.
var statsGroups = []struct {
	name  string
	group libvirt.DomainStatsTypes
}{
	{"state", libvirt.DomainStatsState},
	{"cpu-total", libvirt.DomainStatsCPUTotal},
	{"balloon", libvirt.DomainStatsBalloon},
	{"vcpu", libvirt.DomainStatsVCPU},
	{"interface", libvirt.DomainStatsInterface},
	{"block", libvirt.DomainStatsBlock},
}

const (
	sixGroups = "state,cpu-total,balloon,vcpu,interface,block"
	// sampleCalls are the calls of a vAdvisor sample reading, made plainly.
	sampleCalls = "state,balloon,interface,block+each:cpustats,vcpus"
)

func parseGroups(list string) (libvirt.DomainStatsTypes, error) {
	var g libvirt.DomainStatsTypes
	for _, name := range strings.Split(list, ",") {
		i := slices.IndexFunc(statsGroups, func(s struct {
			name  string
			group libvirt.DomainStatsTypes
		}) bool {
			return s.name == name
		})
		if i < 0 {
			return 0, fmt.Errorf("unknown stats group %q", name)
		}
		g |= statsGroups[i].group
	}
	return g, nil
}

// plainCall is the child's loop: one NOWAIT bulk call a second, on the
// read-only socket, as `virsh -r domstats --nowait` would make it; or,
// for "each:" and a list of per-domain calls, those calls for every
// running domain, one after the other, once a second.
func plainCall(choice string) error {
	l, err := dialLibvirt(libvirtconn.ReadOnlySocket, systemURI)
	if err != nil {
		return err
	}
	once, err := callFunc(l, choice)
	if err != nil {
		return err
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for range tick.C {
		if err := once(); err != nil {
			return err
		}
	}
	return nil
}

// callFunc makes one bulk call for a list of groups, or the per-domain
// calls of an "each:" list for every running domain.
func callFunc(l *libvirt.Libvirt, choice string) (func() error, error) {
	if first, rest, ok := strings.Cut(choice, "+"); ok { // one after the other
		a, err := callFunc(l, first)
		if err != nil {
			return nil, err
		}
		b, err := callFunc(l, rest)
		if err != nil {
			return nil, err
		}
		return func() error {
			if err := a(); err != nil {
				return err
			}
			return b()
		}, nil
	}
	if calls, ok := strings.CutPrefix(choice, "each:"); ok {
		return perDomainCalls(l, strings.Split(calls, ","))
	}
	groups, err := parseGroups(choice)
	if err != nil {
		return nil, err
	}
	return func() error {
		_, err := l.ConnectGetAllDomainStats(nil, uint32(groups), uint32(libvirt.ConnectGetAllDomainsStatsNowait))
		return err
	}, nil
}

// perDomainCalls makes the named per-domain calls for every running
// domain (their devices as the bulk call names them at the start).
func perDomainCalls(l *libvirt.Libvirt, calls []string) (func() error, error) {
	recs, err := l.ConnectGetAllDomainStats(nil, uint32(libvirt.DomainStatsInterface|libvirt.DomainStatsBlock), uint32(libvirt.ConnectGetAllDomainsStatsActive))
	if err != nil {
		return nil, err
	}
	type dom struct {
		d             libvirt.Domain
		disks, ifaces []string
	}
	var doms []dom
	for _, rec := range recs {
		d := dom{d: rec.Dom}
		for _, p := range rec.Params {
			if v, ok := p.Value.I.(string); ok && strings.HasSuffix(p.Field, ".name") {
				if strings.HasPrefix(p.Field, "block.") {
					d.disks = append(d.disks, v)
				} else {
					d.ifaces = append(d.ifaces, v)
				}
			}
		}
		doms = append(doms, d)
	}
	each := map[string]func(d dom) error{
		"info": func(d dom) error { _, _, _, _, _, err := l.DomainGetInfo(d.d); return err },
		"cpustats": func(d dom) error {
			_, _, err := l.DomainGetCPUStats(d.d, 3, -1, 1, 0)
			return err
		},
		"vcpus": func(d dom) error { _, _, err := l.DomainGetVcpus(d.d, 64, 0); return err },
		"memory": func(d dom) error {
			_, err := l.DomainMemoryStats(d.d, uint32(libvirt.DomainMemoryStatNr), 0)
			return err
		},
		"blockstats": func(d dom) error {
			for _, disk := range d.disks {
				if _, _, err := l.DomainBlockStatsFlags(d.d, disk, 16, 0); err != nil {
					return err
				}
			}
			return nil
		},
		"iface": func(d dom) error {
			for _, n := range d.ifaces {
				if _, _, _, _, _, _, _, _, err := l.DomainInterfaceStats(d.d, n); err != nil {
					return err
				}
			}
			return nil
		},
	}
	var fns []func(d dom) error
	for _, c := range calls {
		fn, ok := each[c]
		if !ok {
			return nil, fmt.Errorf("unknown per-domain call %q", c)
		}
		fns = append(fns, fn)
	}
	return func() error {
		for _, d := range doms {
			for _, fn := range fns {
				if err := fn(d); err != nil {
					return fmt.Errorf("%s: %w", d.d.Name, err)
				}
			}
		}
		return nil
	}, nil
}
