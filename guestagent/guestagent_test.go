package guestagent

import (
	"fmt"
	"testing"

	"github.com/digitalocean/go-libvirt"
)

func param(field string, v any) libvirt.TypedParam {
	d := uint32(7)
	if _, ok := v.(uint64); ok {
		d = 4
	}
	return libvirt.TypedParam{Field: field, Value: libvirt.TypedParamValue{D: d, I: v}}
}

// What libvirt 9 answers for a test-bed guest (virsh guestinfo), with a
// second filesystem and the fields this package does not take.
func TestDecode(t *testing.T) {
	var info Info
	decode(&info, []libvirt.TypedParam{
		param("user.count", uint64(1)),
		param("user.0.name", "root"),
		param("os.id", "debian"),
		param("os.version-id", "12"),
		param("os.kernel-release", "6.1.0-57-cloud-amd64"),
		param("hostname", "vadv-l1"),
		param("fs.count", uint64(2)),
		param("fs.0.name", "vda"),
		param("fs.0.mountpoint", "/mnt"),
		param("fs.0.fstype", "ext2"),
		param("fs.0.total-bytes", uint64(61629440)),
		param("fs.0.used-bytes", uint64(17910784)),
		param("fs.0.disk.count", uint64(1)),
		param("fs.0.disk.0.device", "/dev/vda"),
		param("fs.1.name", "dm-0"),
		param("fs.1.mountpoint", "/"),
		param("fs.1.fstype", "xfs"), // no sizes: the agent did not say
		param("fs.x.mountpoint", "/bad"),
		param("fs.-1.mountpoint", "/bad"),
	})
	if info.OSID != "debian" || info.OSVersionID != "12" || info.KernelRelease != "6.1.0-57-cloud-amd64" || info.Hostname != "vadv-l1" {
		t.Errorf("os and host: %+v", info)
	}
	if !info.Users.OK || info.Users.V != 1 {
		t.Errorf("users: %+v", info.Users)
	}
	if len(info.Filesystems) != 2 {
		t.Fatalf("filesystems: %+v", info.Filesystems)
	}
	fs := info.Filesystems[0]
	if fs.Mountpoint != "/mnt" || fs.Device != "vda" || fs.Type != "ext2" || fs.Size.V != 61629440 || fs.Used.V != 17910784 || !fs.Size.OK || !fs.Used.OK {
		t.Errorf("fs 0: %+v", fs)
	}
	if fs := info.Filesystems[1]; fs.Mountpoint != "/" || fs.Size.OK || fs.Used.OK {
		t.Errorf("fs 1: %+v", fs)
	}
}

func TestDecodeBoundsFilesystems(t *testing.T) {
	var params []libvirt.TypedParam
	for _, i := range []int{0, maxFilesystems - 1, maxFilesystems, 1 << 30} {
		params = append(params, param(fmt.Sprintf("fs.%d.mountpoint", i), fmt.Sprintf("/m%d", i)))
	}
	var info Info
	decode(&info, params)
	if len(info.Filesystems) != 2 {
		t.Errorf("filesystems: %d, want the 2 with an index below %d", len(info.Filesystems), maxFilesystems)
	}
}
