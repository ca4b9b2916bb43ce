package collector

import (
	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

func init() {
	registerCollector(factory{
		name:  poolFamilies.collector,
		help:  "storage pool state and sizes",
		build: stateless(updatePool),
	})
}

// poolFamilies are this file's: libvirt_storage_pool_*, all read by one call.
var poolFamilies = group{namespace: namespace, subsystem: "storage_pool", collector: "pool"}

func poolGauge(name, help string) metric {
	return poolFamilies.gauge(name, help, "storage_pool").from(domstats.Count, "virStoragePoolGetInfo")
}

var (
	poolState      = poolGauge("state", "Pool state: 0 inactive, 1 building, 2 running, 3 degraded, 4 inaccessible.")
	poolCapacity   = poolGauge("capacity_bytes", "Pool capacity.")
	poolAllocation = poolGauge("allocation_bytes", "Pool allocation.")
	poolAvailable  = poolGauge("available_bytes", "Free space in the pool.")
	poolTimedOut   = poolGauge("timed_out", "1 if the pool's figures could not be read in time.")
)

type poolInfo struct {
	state                           uint8
	capacity, allocation, available uint64
}

func updatePool(s *scrape) error {
	pools, err := libvirtconn.Do(s.ctx, s.conn, func(l *libvirt.Libvirt) ([]libvirt.StoragePool, error) {
		pools, _, err := l.ConnectListAllStoragePools(1, 0)
		return pools, err
	})
	if err != nil {
		return err
	}
	libvirtconn.Each(len(pools), func(i int) {
		p := pools[i]
		info, err := libvirtconn.Do(s.ctx, s.conn, func(l *libvirt.Libvirt) (poolInfo, error) {
			state, capacity, allocation, available, err := l.StoragePoolGetInfo(p)
			return poolInfo{state, capacity, allocation, available}, err
		})
		poolTimedOut.sendFloat(s.ch, boolFloat(err != nil), p.Name)
		if err != nil {
			return
		}
		poolState.sendFloat(s.ch, float64(info.state), p.Name)
		poolCapacity.sendFloat(s.ch, float64(info.capacity), p.Name)
		poolAllocation.sendFloat(s.ch, float64(info.allocation), p.Name)
		poolAvailable.sendFloat(s.ch, float64(info.available), p.Name)
	})
	return nil
}
