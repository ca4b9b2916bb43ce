package collector

import (
	"bytes"
	"context"
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/digitalocean/go-libvirt"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"libvirt.org/go/libvirtxml"

	"github.com/vadvisor/vadvisor/domstats"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// record builds a bulk stats record from "field=value" lines: digits make
// an unsigned long long, anything else a string.
func record(name string, uuid byte, id int32, lines string) libvirt.DomainStatsRecord {
	rec := libvirt.DomainStatsRecord{Dom: libvirt.Domain{Name: name, ID: id}}
	rec.Dom.UUID[15] = uuid
	for _, line := range strings.Split(strings.TrimSpace(lines), "\n") {
		field, v, _ := strings.Cut(strings.TrimSpace(line), "=")
		value := libvirt.TypedParamValue{D: 7, I: v}
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			value = libvirt.TypedParamValue{D: 4, I: n}
		}
		rec.Params = append(rec.Params, libvirt.TypedParam{Field: field, Value: value})
	}
	return rec
}

// cannedCollector runs sub-collectors over a fixed reading: the groups and
// definitions the TCG test guests cannot produce.
type cannedCollector struct {
	s    scrape
	subs []string
}

func (c *cannedCollector) Describe(chan<- *prometheus.Desc) {}

func (c *cannedCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	s.ch = ch
	for _, f := range factories {
		for _, name := range c.subs {
			if f.name == name {
				sub, err := f.build(deps{})
				if err != nil {
					panic(err)
				}
				if err := sub.update(&s); err != nil {
					panic(err)
				}
			}
		}
	}
}

const guestWithEverything = `
state.state=1
state.reason=1
cpu.time=7301120000000
cpu.user=5120000000000
cpu.system=1830000000000
balloon.current=1048576
balloon.maximum=2097152
balloon.swap_in=1024
balloon.swap_out=2048
balloon.major_fault=12
balloon.minor_fault=3456
balloon.unused=524288
balloon.available=1000000
balloon.usable=750000
balloon.last-update=1795000000
balloon.disk_caches=65536
balloon.hugetlb_pgalloc=3
balloon.hugetlb_pgfail=1
balloon.rss=612340
vcpu.current=2
vcpu.maximum=4
vcpu.0.state=1
vcpu.0.time=6900500000000
vcpu.0.wait=1000000
vcpu.0.delay=2500000000
vcpu.1.state=2
vcpu.1.time=400000000
vcpu.1.wait=0
vcpu.1.delay=0
net.count=3
net.0.name=vnet7
net.0.rx.bytes=1000
net.0.rx.pkts=10
net.0.rx.errs=1
net.0.rx.drop=2
net.0.tx.bytes=2000
net.0.tx.pkts=20
net.0.tx.errs=3
net.0.tx.drop=4
net.1.name=
net.1.rx.bytes=5
net.2.name=vnet7
net.2.rx.bytes=99
block.count=3
block.0.name=vda
block.0.path=/var/lib/nova/instances/one/disk
block.0.rd.reqs=100
block.0.rd.bytes=51200
block.0.rd.times=97464000
block.0.wr.reqs=50
block.0.wr.bytes=25600
block.0.wr.times=1000000000
block.0.fl.reqs=5
block.0.fl.times=2000000
block.0.allocation=1048576
block.0.capacity=10737418240
block.0.physical=2097152
block.1.name=hdc
block.2.name=vda
block.2.rd.bytes=1
perf.cpu_cycles=123456789
perf.instructions=98765
perf.cmt=4194304
perf.mbmt=1000
perf.mbml=500
iothread.count=1
iothread.1.poll-max-ns=32768
iothread.1.poll-grow=2
iothread.1.poll-shrink=4
dirtyrate.calc_status=2
dirtyrate.calc_start_time=1795000000
dirtyrate.calc_period=1
dirtyrate.megabytes_per_second=3
vm.remote_tlb_flush.sum=4711
vm.remote_tlb_flush_requests.sum=5000
vm.nx_lpage_splits.cur=12
vm.pages_4k.cur=8192
vm.max_mmu_page_hash_collisions.max=3
vm.max_mmu_rmap_size.max=17
`

const novaXML = `<domain type='kvm'><name>instance-0001</name>
<uuid>00000000-0000-0000-0000-000000000001</uuid>
<metadata>
  <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
    <nova:name>web-1</nova:name>
    <nova:flavor name="m1.small"><nova:memory>2048</nova:memory></nova:flavor>
    <nova:owner>
      <nova:user uuid="u-123">alice</nova:user>
      <nova:project uuid="p-456">shop</nova:project>
    </nova:owner>
  </nova:instance>
</metadata>
<memory unit='KiB'>2097152</memory><vcpu>4</vcpu>
<os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
<devices>
  <disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none' discard='unmap'/>
    <source file='/var/lib/nova/instances/one/disk'/><target dev='vda' bus='virtio'/><serial>abc</serial></disk>
  <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='hdc' bus='ide'/><readonly/></disk>
  <interface type='bridge'><mac address='fa:16:3e:00:00:01'/><source bridge='br-int'/><target dev='vnet7'/>
    <model type='virtio'/><mtu size='1450'/></interface>
  <interface type='user'><mac address='fa:16:3e:00:00:02'/><model type='e1000'/></interface>
  <memballoon model='virtio'><stats period='10'/></memballoon>
</devices></domain>`

func TestCannedGolden(t *testing.T) {
	var def libvirtxml.Domain
	if err := def.Unmarshal(novaXML); err != nil {
		t.Fatal(err)
	}
	oneDef := newDefinition(&def)
	one := domstats.Decode(record("instance-0001", 1, 7, guestWithEverything))
	off := domstats.Decode(record("stopped", 2, -1, "state.state=5\nstate.reason=2"))
	c := &cannedCollector{
		s: scrape{
			ctx:     context.Background(),
			reading: &domstats.Reading{Domains: []domstats.Domain{one, off}},
			defs:    map[libvirt.UUID]*definition{one.UUID: oneDef},
		},
		subs: []string{"domain", "memory", "vcpu", "block", "interface", "perf", "iothread", "dirtyrate", "kvm", "openstack"},
	}
	golden := "testdata/canned.prom"
	if *update {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c)
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		for _, f := range families {
			if _, err := expfmt.MetricFamilyToText(&buf, f); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.Open(golden)
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	if err := testutil.CollectAndCompare(c, want); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}

type jobCollector struct{ params []libvirt.TypedParam }

func (jobCollector) Describe(chan<- *prometheus.Desc) {}
func (j jobCollector) Collect(ch chan<- prometheus.Metric) {
	sendJob(ch, "migrating", int32(libvirt.DomainJobUnbounded), j.params)
	sendJob(ch, "idle", int32(libvirt.DomainJobNone), nil)
}

func TestJobStatsInBaseUnits(t *testing.T) {
	rec := record("x", 0, 1, `
time_elapsed=12500
time_remaining=3000
data_total=4294967296
data_processed=1073741824
data_remaining=3221225472
memory_total=2147483648
memory_processed=1073741824
memory_remaining=1073741824
disk_total=100
disk_processed=40
disk_remaining=60`)
	want := `
# HELP libvirt_domain_job_info_type Job type: 0 none, 1 bounded, 2 unbounded, 3 completed, 4 failed, 5 cancelled.
# TYPE libvirt_domain_job_info_type gauge
libvirt_domain_job_info_type{domain="idle"} 0
libvirt_domain_job_info_type{domain="migrating"} 2
# HELP libvirt_domain_job_info_time_elapsed_seconds Time since the job started.
# TYPE libvirt_domain_job_info_time_elapsed_seconds gauge
libvirt_domain_job_info_time_elapsed_seconds{domain="migrating"} 12.5
# HELP libvirt_domain_job_info_time_remaining_seconds Estimated time until the job ends.
# TYPE libvirt_domain_job_info_time_remaining_seconds gauge
libvirt_domain_job_info_time_remaining_seconds{domain="migrating"} 3
# HELP libvirt_domain_job_info_file_remaining_bytes Job progress: file_remaining in bytes.
# TYPE libvirt_domain_job_info_file_remaining_bytes gauge
libvirt_domain_job_info_file_remaining_bytes{domain="migrating"} 60
# HELP libvirt_domain_job_info_memory_processed_bytes Job progress: memory_processed in bytes.
# TYPE libvirt_domain_job_info_memory_processed_bytes gauge
libvirt_domain_job_info_memory_processed_bytes{domain="migrating"} 1.073741824e+09
# HELP libvirt_domain_job_info_data_total_bytes Job progress: data_total in bytes.
# TYPE libvirt_domain_job_info_data_total_bytes gauge
libvirt_domain_job_info_data_total_bytes{domain="migrating"} 4.294967296e+09
`
	err := testutil.CollectAndCompare(jobCollector{rec.Params}, strings.NewReader(want),
		"libvirt_domain_job_info_type", "libvirt_domain_job_info_time_elapsed_seconds", "libvirt_domain_job_info_time_remaining_seconds",
		"libvirt_domain_job_info_file_remaining_bytes", "libvirt_domain_job_info_memory_processed_bytes", "libvirt_domain_job_info_data_total_bytes")
	if err != nil {
		t.Error(err)
	}
}
