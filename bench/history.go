package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/history"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

var historyFor = flag.Duration("history-for", 250*time.Second, "history part: how long to sample at 1 s (two sealed chunks take 240 s)")

// osGuestPrefix names the history part's guests with a real OS, whose
// figures move.
const osGuestPrefix = "vadv-bl"

// groupOrder is the order of the history part's columns.
var groupOrder = []string{"times", "state", "cpu", "memory", "vcpu", "disk", "network"}

type historyVM struct {
	name               string
	vcpus, nets, disks int
	fp                 history.Footprint
	xor                xorSize // the same samples in Prometheus' XOR chunks
	os                 bool    // the guest reports its memory: it runs an OS
}

type historyResult struct {
	failed          string
	vms             []historyVM
	node            []historyVM // the test-driver node's
	heap, nodeHeap  int         // vadvisor_history_bytes of each history
	samples         int         // sampler ticks
	loadStart, load string
}

// historyPart samples every domain of the system libvirtd, among them two
// guests with a real OS, and the domains of a test-driver node, each in a
// history of its own at 1 s, and measures what their samples take.
func historyPart(root, nodeURI string) *historyResult {
	r := &historyResult{loadStart: loadAvg()}
	if err := command(root, "bash", "scripts/testbed.sh", "--linux", osGuestPrefix, "2"); err != nil {
		r.failed = "cannot start the guests with an OS: " + err.Error()
		return r
	}
	defer func() {
		if !*keep {
			for i := 1; i <= 2; i++ {
				_ = command(root, "virsh", "-c", systemURI, "destroy", fmt.Sprintf("%s%d", osGuestPrefix, i))
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), *historyFor)
	defer cancel()
	logf("history: sampling every domain at 1 s for %s", *historyFor)
	sys, sysErr := sampleFor(ctx, systemURI)
	node, nodeErr := sampleFor(ctx, nodeURI)
	<-ctx.Done()
	if err := cmpErr(sysErr, nodeErr); err != nil {
		r.failed = err.Error()
		return r
	}
	r.vms, r.heap, r.samples = footprints(sys)
	r.node, r.nodeHeap, _ = footprints(node)
	r.load = loadAvg()
	return r
}

func cmpErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// sampleFor runs a history of the domains at uri until ctx ends.
func sampleFor(ctx context.Context, uri string) (*history.History, error) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	conn, err := libvirtconn.New(uri, 3*time.Second, quiet)
	if err != nil {
		return nil, err
	}
	go conn.Run(ctx)
	h, err := history.New(domstats.NewReader(conn, domstats.SampleGroups), time.Second, time.Hour, quiet)
	if err != nil {
		return nil, err
	}
	go h.Run(ctx)
	return h, nil
}

// footprints measures each VM of h, and the whole history's heap.
func footprints(h *history.History) (vms []historyVM, heap, ticks int) {
	for _, id := range h.UUIDs() {
		vm := historyVM{fp: h.Footprint(id)}
		var cols columns
		h.Range(id, history.Query{}, func(t time.Time, d *domstats.Domain) bool {
			vm.name, vm.vcpus, vm.nets, vm.disks = d.Name, len(d.VCPUs), len(d.Nets), len(d.Blocks)
			vm.os = vm.os || d.Balloon.Usable.OK
			cols.add(t, d)
			return true
		})
		vm.xor = cols.xor()
		if vm.fp.Samples > 0 {
			vms = append(vms, vm)
		}
	}
	sort.Slice(vms, func(i, j int) bool { return vms[i].name < vms[j].name })
	heap, ticks = historyBytes(h)
	return vms, heap, ticks
}

// historyBytes reads vadvisor_history_bytes and the ticks recorded off the
// history's own metrics.
func historyBytes(h *history.History) (heap, ticks int) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(h)
	families, _ := reg.Gather()
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "vadvisor_history_bytes":
				heap = int(m.GetGauge().GetValue())
			case "vadvisor_history_samples_total":
				ticks = int(m.GetCounter().GetValue())
			}
		}
	}
	return heap, ticks
}

// perSample is a VM's bytes per sample: its columns and chunk headers.
func (vm historyVM) perSample() float64 {
	total := vm.fp.Chunks
	for _, b := range vm.fp.Bytes {
		total += b
	}
	return float64(total) / float64(vm.fp.Samples)
}

// xorPerSample is the VM's bytes per sample as XOR chunks.
func (vm historyVM) xorPerSample() float64 {
	return float64(vm.xor.bytes) / float64(max(vm.xor.samples, 1))
}

// projected is the heap per VM-sample of an hour of a VM like vm with two
// vCPUs, disks and NICs: its columns scaled to two of each device, chunk
// headers, and what it holds besides (open chunk, layout) spread over the
// hour's samples.
func (vm historyVM) projected() float64 {
	per := func(g string) float64 { return float64(vm.fp.Bytes[g]) / float64(vm.fp.Samples) }
	b := per("times") + per("state") + per("cpu") + per("memory") + float64(vm.fp.Chunks)/float64(vm.fp.Samples)
	for _, d := range []struct {
		group string
		n     int
	}{{"vcpu", vm.vcpus}, {"disk", vm.disks}, {"network", vm.nets}} {
		if d.n > 0 {
			b += per(d.group) / float64(d.n) * 2
		}
	}
	return b + float64(vm.fp.Open)/3600
}

func (r *historyResult) write(w *report) {
	w.Heading(2, "History memory")
	if r.failed != "" {
		w.Para("Failed: %s.", r.failed)
		return
	}
	w.Para("Every domain of this libvirtd sampled at 1 s for %s (%d readings) in an in-process history; "+
		"a VM's sealed chunks (%d samples each) measured by decoding them. Bytes per value by group of fields; "+
		"B/VM-sample is the columns plus the chunk headers. XOR chunks: the same samples in Prometheus' tsdb/chunkenc XOR chunks "+
		"of 120 samples, one series per field with its own timestamps (ms), absent values left out. "+
		"Load average %s before, %s after.",
		*historyFor, r.samples, 120, r.loadStart, r.load)
	header := append(append([]string{"VM", "OS", "vCPUs, disks, NICs", "samples"}, groupOrder...),
		"B/VM-sample", "XOR chunks: B/VM-sample", "1 h, 2 of each device: B/VM-sample")
	var rows [][]string
	var withOS, without, xorOS, xorNoOS []float64
	for _, vm := range r.vms {
		os := "none"
		if vm.os {
			os, withOS, xorOS = "Linux", append(withOS, vm.projected()), append(xorOS, vm.xorPerSample()/vm.perSample())
		} else {
			without, xorNoOS = append(without, vm.projected()), append(xorNoOS, vm.xorPerSample()/vm.perSample())
		}
		row := []string{vm.name, os, fmt.Sprintf("%d, %d, %d", vm.vcpus, vm.disks, vm.nets), strconv.Itoa(vm.fp.Samples)}
		for _, g := range groupOrder {
			row = append(row, fmt.Sprintf("%.2f", float64(vm.fp.Bytes[g])/float64(max(vm.fp.Values[g], 1))))
		}
		rows = append(rows, append(row,
			fmt.Sprintf("%.1f", vm.perSample()), fmt.Sprintf("%.1f", vm.xorPerSample()), fmt.Sprintf("%.1f", vm.projected())))
	}
	w.Table(header, rows)
	var summary []string
	for _, c := range []struct {
		what     string
		per, xor []float64
	}{{"guests with a real OS", withOS, xorOS}, {"guests without an OS", without, xorNoOS}} {
		if len(c.per) > 0 {
			m := medianFloat(c.per)
			summary = append(summary, fmt.Sprintf("%s: median %.1f B per VM-sample; 200 such VMs with 2 disks and 2 NICs for 1 h: %.1f MiB; XOR chunks take %.1f× as much.",
				c.what, m, m*200*3600/(1<<20), medianFloat(c.xor)))
		}
	}
	var node []float64
	for _, vm := range r.node {
		node = append(node, vm.perSample())
	}
	if len(node) > 0 {
		summary = append(summary, fmt.Sprintf("the %d-domain test node (state only): median %.1f B per VM-sample; its history holds %.1f MiB.",
			len(node), medianFloat(node), float64(r.nodeHeap)/(1<<20)))
	}
	summary = append(summary, fmt.Sprintf("vadvisor_history_bytes of the system's history: %.1f MiB for %d VMs after %s.",
		float64(r.heap)/(1<<20), len(r.vms), *historyFor))
	w.List("", summary)
}

func medianFloat(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}
