package domxml

import (
	"context"
	"errors"
	"testing"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

func TestParsesEachDefinitionOnce(t *testing.T) {
	c := New(nil)
	a, b := libvirt.UUID{1}, libvirt.UUID{2}
	first, err := c.parse(a, "<domain type='kvm'><name>one</name></domain>")
	if err != nil || first.Name != "one" {
		t.Fatalf("parse: %+v, %v", first, err)
	}
	if again, _ := c.parse(a, "<domain type='kvm'><name>one</name></domain>"); again != first {
		t.Error("the same XML was parsed again")
	}
	if other, _ := c.parse(b, "<domain type='kvm'><name>one</name></domain>"); other == first {
		t.Error("another domain with the same XML shares its entry")
	}
	changed, err := c.parse(a, "<domain type='kvm'><name>renamed</name></domain>")
	if err != nil || changed == first || changed.Name != "renamed" {
		t.Errorf("changed XML: %+v, %v; want a new parse", changed, err)
	}
	if _, err := c.parse(a, "<domain"); !errors.Is(err, ErrParse) {
		t.Errorf("bad XML: %v, want ErrParse", err)
	}

	c.Retain(func(u libvirt.UUID) bool { return u == b })
	if _, ok := c.defs[a]; ok || len(c.defs) != 1 {
		t.Errorf("Retain kept %d definitions, the gone domain's among them: %v", len(c.defs), ok)
	}
}

func TestGetReadsLibvirt(t *testing.T) {
	conn := testbed.Conn(t, testbed.TestNode(t, "dx", 2))
	client, err := conn.Client()
	if err != nil {
		t.Fatal(err)
	}
	doms, _, err := client.ConnectListAllDomains(1, 0)
	if err != nil || len(doms) != 2 {
		t.Fatalf("%d domains, %v", len(doms), err)
	}
	c := New(conn)
	for _, d := range doms {
		def, err := c.Get(context.Background(), d)
		if err != nil || def.Name != d.Name || def.UUID == "" {
			t.Fatalf("%s: %+v, %v", d.Name, def, err)
		}
		if again, err := c.Get(context.Background(), d); err != nil || again != def {
			t.Errorf("%s: read again, unchanged, it was parsed again (%v)", d.Name, err)
		}
	}
	gone := libvirt.Domain{Name: "gone", UUID: libvirt.UUID{9}}
	c.defs[gone.UUID] = &Definition{}
	if _, err := c.Get(context.Background(), gone); !libvirt.IsNotFound(err) {
		t.Errorf("unknown domain: %v, want not found", err)
	}
	if _, ok := c.defs[gone.UUID]; ok {
		t.Error("the definition of a domain libvirt no longer knows stayed")
	}
}
