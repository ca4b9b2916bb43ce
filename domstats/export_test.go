package domstats

import "time"

// SetLastDuration makes the next Read behave as if the last reading had
// taken d.
func (r *Reader) SetLastDuration(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latest = &Reading{Duration: d}
}

var Split = split

// UsePerDomainCPU makes samples read the CPU figures with the per-domain
// calls whatever the driver, until libvirt turns them down.
func (r *Reader) UsePerDomainCPU() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bulkCPU = false
}

// BulkCPU reports whether samples take the bulk groups for the CPU figures.
func (r *Reader) BulkCPU() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bulkCPU
}

// Sampling reports whether a sample reading talks to libvirt.
func (r *Reader) Sampling() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sampling != nil
}
