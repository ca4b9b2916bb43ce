package collector

import (
	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/libvirtconn"
)

func init() {
	register(subCollector{
		name:   "pool",
		help:   "storage pool state and sizes",
		update: updatePool,
	})
}

var (
	poolState      = gauge("libvirt_storage_pool_state", "Pool state: 0 inactive, 1 building, 2 running, 3 degraded, 4 inaccessible.", "storage_pool")
	poolCapacity   = gauge("libvirt_storage_pool_capacity_bytes", "Pool capacity.", "storage_pool")
	poolAllocation = gauge("libvirt_storage_pool_allocation_bytes", "Pool allocation.", "storage_pool")
	poolAvailable  = gauge("libvirt_storage_pool_available_bytes", "Free space in the pool.", "storage_pool")
	poolTimedOut   = gauge("libvirt_storage_pool_timed_out", "1 if the pool's figures could not be read in time.", "storage_pool")
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
