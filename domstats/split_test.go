package domstats

import (
	"fmt"
	"testing"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/libvirtconn"
)

func domains(running, off int) []libvirt.Domain {
	var list []libvirt.Domain
	for i := range running {
		list = append(list, libvirt.Domain{Name: fmt.Sprintf("r%d", i), ID: int32(i + 1)})
	}
	for i := range off {
		list = append(list, libvirt.Domain{Name: fmt.Sprintf("o%d", i), ID: -1})
	}
	return list
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		running, off, chunks int
	}{
		{0, 5, 1},
		{chunkSize*2 - 1, 24, 1},
		{chunkSize * 2, 0, 2},
		{30, 24, 3},
		{1000, 10, libvirtconn.MaxInFlight - 1},
	} {
		chunks := split(domains(tc.running, tc.off))
		if len(chunks) != tc.chunks {
			t.Errorf("%d running, %d off: %d chunks, want %d", tc.running, tc.off, len(chunks), tc.chunks)
			continue
		}
		seen := map[string]bool{}
		for i, c := range chunks {
			running := 0
			for _, d := range c {
				if seen[d.Name] {
					t.Errorf("%d running: %s in two chunks", tc.running, d.Name)
				}
				seen[d.Name] = true
				if d.ID > 0 {
					running++
				} else if i > 0 {
					t.Errorf("%d running: shut-off %s not in the first chunk", tc.running, d.Name)
				}
			}
			if len(chunks) > 1 && running < chunkSize {
				t.Errorf("%d running: chunk %d has %d running domains, want at least %d", tc.running, i, running, chunkSize)
			}
		}
		if len(seen) != tc.running+tc.off {
			t.Errorf("%d running, %d off: %d domains in the chunks", tc.running, tc.off, len(seen))
		}
	}
}
