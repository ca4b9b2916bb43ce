package history

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"
)

// savedHistory records readings of three VMs up to now, over more than a
// chunk, with a disk unplugged and a VM that stopped, and saves them.
func savedHistory(t testing.TB) (*History, []byte) {
	h := newTestHistory(t, time.Second, time.Hour)
	now := time.Now()
	for i := range 2*chunkSamples + 7 {
		a, b, c := fakeDomain(1, uint64(i*i)), fakeDomain(2, uint64(i)), fakeDomain(3, 0)
		if i > chunkSamples+3 {
			b.Blocks = b.Blocks[:1]
		}
		r := reading(now.Add(time.Duration(i-2*chunkSamples-7)*time.Second), a, b)
		if i < 10 {
			r.Domains = append(r.Domains, c)
		}
		h.Record(r)
	}
	var buf bytes.Buffer
	if err := h.Save(&buf); err != nil {
		t.Fatal(err)
	}
	return h, buf.Bytes()
}

// After Save and Load, a new history serves every sample the old one did.
func TestSaveLoadRoundTrip(t *testing.T) {
	h, saved := savedHistory(t)
	loaded := newTestHistory(t, time.Second, time.Hour)
	if err := loaded.Load(bytes.NewReader(saved)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(loaded.UUIDs(), h.UUIDs()) || len(h.UUIDs()) != 3 {
		t.Fatalf("VMs %v after Load, %v before", loaded.UUIDs(), h.UUIDs())
	}
	for _, id := range h.UUIDs() {
		want, _ := samplesOf(h, id)
		got, _ := samplesOf(loaded, id)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("VM %v: %d samples after Load, %d before, or other figures", id, len(got), len(want))
		}
	}
	if !loaded.Newest().Equal(h.Newest()) {
		t.Errorf("newest reading %v after Load, %v before", loaded.Newest(), h.Newest())
	}
	// The sampler goes on after what was loaded.
	next := fakeDomain(1, 99999)
	loaded.Record(reading(h.Newest().Add(time.Second), next))
	got, _ := samplesOf(loaded, libvirt.UUID{1, 1})
	if last := got[len(got)-1]; !last.t.Equal(h.Newest().Add(time.Second)) || last.d.CPUTime.V != next.CPUTime.V {
		t.Errorf("the sample after Load reads %v at %v", last.d.CPUTime, last.t)
	}
	if err := loaded.Load(bytes.NewReader(saved)); err == nil {
		t.Error("Load into a history with samples succeeded")
	}
}

// What is older than the retention when loading is dropped.
func TestLoadDropsWhatAgedOut(t *testing.T) {
	_, saved := savedHistory(t)
	short := newTestHistory(t, time.Second, 100*time.Second)
	if err := short.Load(bytes.NewReader(saved)); err != nil {
		t.Fatal(err)
	}
	got, ok := samplesOf(short, libvirt.UUID{1, 1})
	if !ok || len(got) == 0 || len(got) > 100 || time.Since(got[0].t) > 101*time.Second {
		t.Fatalf("%d samples, the oldest %v old, with a retention of 100 s", len(got), time.Since(got[0].t))
	}
	if _, ok := samplesOf(short, libvirt.UUID{3, 1}); ok {
		t.Error("a VM whose samples all aged out was loaded")
	}
}

// A damaged history is an error and loads nothing, however it is cut.
// (Flipped bits may decode to other figures: the file's checksum, outside
// the history, catches those.)
func TestLoadRefusesDamage(t *testing.T) {
	_, saved := savedHistory(t)
	for n := 0; n < len(saved); n += 1 + n/50 {
		h := newTestHistory(t, time.Second, time.Hour)
		if err := h.Load(bytes.NewReader(saved[:n])); err == nil && n > 0 {
			t.Fatalf("Load of the first %d of %d bytes succeeded", n, len(saved))
		}
		if len(h.UUIDs()) != 0 {
			t.Fatalf("Load of %d bytes left VMs behind", n)
		}
	}
}

// FuzzLoad: no input makes Load panic; what it accepts, Range walks and
// Save writes back the same.
func FuzzLoad(f *testing.F) {
	_, saved := savedHistory(f)
	f.Add(saved)
	f.Add([]byte{})
	f.Add(saved[:len(saved)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		h := newTestHistory(t, time.Second, 100*365*24*time.Hour)
		if h.Load(bytes.NewReader(data)) != nil {
			return
		}
		for _, id := range h.UUIDs() {
			samplesOf(h, id)
		}
		var again bytes.Buffer
		if err := h.Save(&again); err != nil {
			t.Fatal(err)
		}
		h2 := newTestHistory(t, time.Second, 100*365*24*time.Hour)
		if err := h2.Load(&again); err != nil {
			t.Fatalf("a history Load accepted does not load again once saved: %v", err)
		}
	})
}

// Footprint accounts for every byte of a VM's sealed chunks, and for one
// value per field and sample.
func TestFootprint(t *testing.T) {
	h, _ := savedHistory(t)
	id := libvirt.UUID{1, 1}
	f := h.Footprint(id)
	h.mu.RLock()
	bytes, samples := 0, 0
	for _, c := range h.series[id].sealed {
		bytes += len(c.data)
		samples += c.n
	}
	width := h.series[id].sealed[0].layout.size()
	h.mu.RUnlock()
	sum, values := 0, 0
	for g, b := range f.Bytes {
		sum += b
		values += f.Values[g]
	}
	if f.Samples != samples || sum != bytes || values != samples*(width+1) || f.Bytes["cpu"] == 0 || f.Bytes["disk"] == 0 {
		t.Fatalf("footprint %+v: %d samples and %d bytes in %d values, want %d, %d and %d", f, f.Samples, sum, values, samples, bytes, samples*(width+1))
	}
}
