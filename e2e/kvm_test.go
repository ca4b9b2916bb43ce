package e2e

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

// kvmGuests are guests with a real OS run only by this test, under KVM.
const kvmGuests = "vadv-n"

// The kvm collector exports every vm.* statistic libvirt gives for a KVM
// guest, under the family its kind names. TCG guests have none, so the
// test needs a working KVM (TESTBED_ACCEL=kvm); without it the collector is tested on
// canned records only (collector TestCannedGolden, domstats
// TestDecodeKVMStats).
func TestKVMStatsOfAKVMGuest(t *testing.T) {
	if os.Getenv("TESTBED_ACCEL") != "kvm" {
		t.Skip("the test bed's Linux guests run under KVM only with TESTBED_ACCEL=kvm (a /dev/kvm that opens may still not run them); the kvm collector is tested on canned records only")
	}
	kvm, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no KVM guest can run here (/dev/kvm: %v); the kvm collector is tested on canned records only", err)
	}
	kvm.Close()
	name := testbed.LinuxGuests(t, kvmGuests, 1)[0]
	if xml := testbed.Virsh(t, "dumpxml", name); !strings.Contains(xml, "<domain type='kvm'") {
		t.Skipf("%s runs under TCG though /dev/kvm opens (libvirt cannot use KVM here): no vm.* statistics to test", name)
	}
	p := Start(t, "--collector.kvm")
	// Read libvirt first: a cumulative figure of the scrape after it can
	// only be as large or larger.
	fields := regexp.MustCompile(`(?m)^\s*vm\.([a-z0-9_]+)\.(sum|cur|max)=(\d+)$`).
		FindAllStringSubmatch(testbed.Virsh(t, "domstats", "--vm", "--raw", name), -1)
	if len(fields) == 0 {
		t.Fatalf("virsh domstats --vm %s gives no vm.* statistics for a KVM guest", name)
	}
	_, body := p.Get(t, "/metrics")
	family := map[string]string{"sum": "libvirt_domain_kvm_stat_total", "cur": "libvirt_domain_kvm_stat_current", "max": "libvirt_domain_kvm_stat_max"}
	for _, f := range fields {
		series := family[f[2]] + `{domain="` + name + `",stat="` + f[1] + `"} `
		i := strings.Index(body, "\n"+series)
		if i < 0 {
			t.Errorf("vm.%s.%s has no series %s", f[1], f[2], series)
			continue
		}
		line, _, _ := strings.Cut(body[i+1+len(series):], "\n")
		got, err1 := strconv.ParseFloat(line, 64)
		want, err2 := strconv.ParseFloat(f[3], 64)
		if err1 != nil || err2 != nil || (f[2] == "sum" && got < want) {
			t.Errorf("%s%s, virsh read %s before it", series, line, f[3])
		}
	}
}
