package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/vadvisor/vadvisor/domxml"
	"github.com/vadvisor/vadvisor/internal/testbed"
)

func TestSpecs(t *testing.T) {
	names := testbed.Guests(t, guestPrefix, 2)
	conn := testbed.Conn(t, testbed.SystemURI)
	mux := http.NewServeMux()
	NewSpecs(conn, domxml.New(conn), testbed.Logger(t)).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	type specJSON struct {
		Name   string
		UUID   string
		Type   string
		Memory struct {
			Value int
			Unit  string
		}
		VCPU    struct{ Value int }
		Devices struct {
			Disks []struct {
				Target struct{ Dev string }
				// libvirtxml keeps the kind of source in a union of
				// fields tagged xml:"-"; they carry the source file.
				Source struct{ File struct{ File string } }
			}
			Interfaces []struct {
				Target struct{ Dev string }
				Source struct{ Ethernet *struct{} }
			}
		}
	}
	fetch := func(path string) (map[string]specJSON, []byte) {
		t.Helper()
		resp, body := get(t, srv.URL+path)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s %s", path, resp.Status, body)
		}
		var out map[string]specJSON
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		return out, body
	}
	all, body := fetch("/api/v1.0/specs/")
	if bytes.Contains(body, []byte("null")) || bytes.Contains(body, []byte(`""`)) || bytes.Contains(body, []byte("XMLName")) {
		t.Errorf("specs carry absent fields: %.500s", body)
	}
	for _, name := range names {
		id := uuidOf(t, name)
		tap := strings.Fields(strings.Split(testbed.Virsh(t, "domiflist", name), "\n")[2])[0]
		vcpus, _ := strconv.Atoi(testbed.Virsh(t, "vcpucount", name, "--maximum", "--config"))
		for _, path := range []string{"/api/v1.0/specs/" + name, "/api/v1.0/specs/" + strings.ToUpper(id)} {
			one, _ := fetch(path)
			s, ok := one[id]
			if len(one) != 1 || !ok {
				t.Fatalf("%s: keys %v, want only %s", path, one, id)
			}
			if s.Name != name || s.UUID != id || s.Type != "qemu" || s.Memory.Value != 32768 || s.Memory.Unit != "KiB" || s.VCPU.Value != vcpus ||
				len(s.Devices.Disks) != 1 || s.Devices.Disks[0].Target.Dev != "vda" ||
				!strings.HasSuffix(s.Devices.Disks[0].Source.File.File, "/"+name+".qcow2") ||
				len(s.Devices.Interfaces) != 1 || s.Devices.Interfaces[0].Target.Dev != tap || s.Devices.Interfaces[0].Source.Ethernet == nil {
				t.Errorf("%s: %+v", path, s)
			}
		}
		if all[id].Name != name {
			t.Errorf("all specs: %s missing", name)
		}
	}
}
