package domxml

import (
	"context"
	"errors"
	"testing"
	"time"

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
	c.defs[gone.UUID] = &entry{def: &Definition{}}
	if _, err := c.Get(context.Background(), gone); !libvirt.IsNotFound(err) {
		t.Errorf("unknown domain: %v, want not found", err)
	}
	if _, ok := c.defs[gone.UUID]; ok {
		t.Error("the definition of a domain libvirt no longer knows stayed")
	}
}

// Recent fetches a domain's XML again only when it was fetched longer
// than maxAge ago, its domain restarted (another id) or the caller finds
// it stale, and forgets the domains no longer listed.
func TestRecentFetchesOnlyWhatIsStale(t *testing.T) {
	conn := testbed.Conn(t, testbed.TestNode(t, "dr", 2))
	client, err := conn.Client()
	if err != nil {
		t.Fatal(err)
	}
	doms, _, err := client.ConnectListAllDomains(1, 0)
	if err != nil || len(doms) != 2 {
		t.Fatalf("%d domains, %v", len(doms), err)
	}
	c := New(conn)
	ctx := context.Background()
	never := func(int, *Definition) bool { return false }
	fetched := func() [2]time.Time {
		c.mu.Lock()
		defer c.mu.Unlock()
		return [2]time.Time{c.defs[doms[0].UUID].fetched, c.defs[doms[1].UUID].fetched}
	}
	got := c.Recent(ctx, doms, time.Hour, never)
	if len(got) != 2 || got[doms[0].UUID].Name != doms[0].Name || got[doms[1].UUID].Name != doms[1].Name {
		t.Fatalf("Recent gave %v for %v", got, doms)
	}
	for _, tc := range []struct {
		what    string
		doms    []libvirt.Domain
		maxAge  time.Duration
		stale   func(int, *Definition) bool
		fetched [2]bool
	}{
		{"fetched within maxAge", doms, time.Hour, never, [2]bool{false, false}},
		{"the second stale", doms, time.Hour, func(i int, _ *Definition) bool { return i == 1 }, [2]bool{false, true}},
		{"the first restarted", []libvirt.Domain{{Name: doms[0].Name, UUID: doms[0].UUID, ID: doms[0].ID + 1}, doms[1]}, time.Hour, never, [2]bool{true, false}},
		{"older than maxAge", doms, 0, never, [2]bool{true, true}},
	} {
		before := fetched()
		if got := c.Recent(ctx, tc.doms, tc.maxAge, tc.stale); len(got) != 2 {
			t.Errorf("%s: %d definitions, want 2", tc.what, len(got))
		}
		after := fetched()
		for i := range 2 {
			if again := after[i] != before[i]; again != tc.fetched[i] {
				t.Errorf("%s: domain %d fetched again: %v, want %v", tc.what, i, again, tc.fetched[i])
			}
		}
	}
	c.Recent(ctx, doms[:1], time.Hour, never)
	if _, ok := c.defs[doms[1].UUID]; ok || len(c.defs) != 1 {
		t.Errorf("Recent kept the definition of a domain no longer listed: %d kept", len(c.defs))
	}
}
