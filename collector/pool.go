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

// poolSubsystem names this file's metrics: libvirt_storage_pool_*.
const poolSubsystem = "storage_pool"

var (
	poolState      = gauge(poolSubsystem, "state", "Pool state: 0 inactive, 1 building, 2 running, 3 degraded, 4 inaccessible.", "storage_pool")
	poolCapacity   = gauge(poolSubsystem, "capacity_bytes", "Pool capacity.", "storage_pool")
	poolAllocation = gauge(poolSubsystem, "allocation_bytes", "Pool allocation.", "storage_pool")
	poolAvailable  = gauge(poolSubsystem, "available_bytes", "Free space in the pool.", "storage_pool")
	poolTimedOut   = gauge(poolSubsystem, "timed_out", "1 if the pool's figures could not be read in time.", "storage_pool")
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
