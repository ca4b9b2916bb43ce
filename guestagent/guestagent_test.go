package guestagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/libvirtconn"
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

// Strings from the guest become label values: invalid UTF-8 would make
// the Prometheus client panic, and their length is the guest's choice.
func TestDecodeSanitisesLabels(t *testing.T) {
	var info Info
	decode(&info, []libvirt.TypedParam{
		param("hostname", "bad\xffname"),
		param("os.id", strings.Repeat("é", 200)),
	})
	if info.Hostname != "bad\uFFFDname" {
		t.Errorf("hostname %q", info.Hostname)
	}
	if !utf8.ValidString(info.OSID) || len(info.OSID) > maxLabel || len(info.OSID) < maxLabel-1 {
		t.Errorf("os.id: %d bytes, valid %v", len(info.OSID), utf8.ValidString(info.OSID))
	}
}

// Calls that time out and go on waiting for their agents are bounded:
// once maxPending of them wait, no domain is asked until one returns, so the
// connection never counts as wedged and libvirtd's workers held by us stay
// bounded; a domain whose call waits is never asked twice.
func TestHungCallsAreBounded(t *testing.T) {
	a, err := New(nil, time.Second, time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	asked := map[string]int{}
	releases := map[string]func(){}
	a.getInfo = func(_ context.Context, dom libvirt.Domain, release func()) ([]libvirt.TypedParam, error) {
		mu.Lock()
		defer mu.Unlock()
		asked[dom.Name]++
		if strings.HasPrefix(dom.Name, "hung") {
			releases[dom.Name] = release // answered only when the test says
			return nil, libvirtconn.ErrTimeout
		}
		release()
		return []libvirt.TypedParam{param("hostname", dom.Name)}, nil
	}
	var list []libvirt.Domain
	for i, name := range []string{"hung1", "hung2", "hung3", "hung4", "ok1", "ok2"} {
		d := libvirt.Domain{Name: name}
		d.UUID[0] = byte(i + 1)
		list = append(list, d)
	}
	askOne := func(name string) Info {
		for _, d := range list {
			if d.Name == name {
				return a.ask(context.Background(), d)
			}
		}
		panic(name)
	}
	// One at a time, in order: the first three hang.
	for _, name := range []string{"hung1", "hung2", "hung3"} {
		if info := askOne(name); !errors.Is(info.Err, libvirtconn.ErrTimeout) {
			t.Fatalf("%s: %v", name, info.Err)
		}
	}
	for _, name := range []string{"hung4", "ok1"} {
		if info := askOne(name); !errors.Is(info.Err, errTooManyHung) {
			t.Errorf("%s asked with %d calls hung: %v", name, maxPending, info.Err)
		}
	}
	if info := askOne("hung1"); !errors.Is(info.Err, errPending) {
		t.Errorf("hung1 asked again while its call waits: %v", info.Err)
	}
	// One answers: the others may be asked again, hung1 too.
	mu.Lock()
	releases["hung1"]()
	mu.Unlock()
	if info := askOne("ok1"); info.Err != nil || info.Hostname != "ok1" {
		t.Errorf("ok1 after a hung call returned: %+v", info)
	}
	if info := askOne("hung1"); !errors.Is(info.Err, libvirtconn.ErrTimeout) {
		t.Errorf("hung1 after its call returned: %v", info.Err)
	}
	mu.Lock()
	defer mu.Unlock()
	if asked["hung4"] != 0 || asked["hung1"] != 2 || asked["ok1"] != 1 {
		t.Errorf("calls made: %v", asked)
	}
}

// While the pending calls are not all hung, a domain waits for one under
// way to return instead of being reported down: the workers of a refresh
// share the slots the hung calls leave.
func TestAskWaitsForACallUnderWay(t *testing.T) {
	a, err := New(nil, time.Second, time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	slow := make(chan struct{})
	a.getInfo = func(_ context.Context, dom libvirt.Domain, release func()) ([]libvirt.TypedParam, error) {
		switch dom.Name {
		case "hung1", "hung2":
			return nil, libvirtconn.ErrTimeout // never released
		case "slow":
			<-slow
		}
		release()
		return []libvirt.TypedParam{param("hostname", dom.Name)}, nil
	}
	dom := func(name string, b byte) libvirt.Domain {
		d := libvirt.Domain{Name: name}
		d.UUID[0] = b
		return d
	}
	ctx := context.Background()
	a.ask(ctx, dom("hung1", 1))
	a.ask(ctx, dom("hung2", 2))
	slowDone := make(chan Info)
	go func() { slowDone <- a.ask(ctx, dom("slow", 3)) }()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 5s", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitFor("slow's call under way", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		_, ok := a.pending[dom("slow", 3).UUID]
		return ok
	})
	okDone := make(chan Info)
	go func() { okDone <- a.ask(ctx, dom("ok", 4)) }()
	select {
	case info := <-okDone:
		t.Fatalf("ok was not made to wait with %d calls pending: %+v", maxPending, info)
	case <-time.After(100 * time.Millisecond):
	}
	close(slow)
	if info := <-slowDone; info.Err != nil {
		t.Errorf("slow: %v", info.Err)
	}
	if info := <-okDone; info.Err != nil || info.Hostname != "ok" {
		t.Errorf("ok after slow returned: %+v", info)
	}
}
