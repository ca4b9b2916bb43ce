package libvirtconn

import (
	"strings"
	"testing"

	"github.com/digitalocean/go-libvirt"
)

func TestFilterMatchesWholeNames(t *testing.T) {
	f, err := NewFilter("inc", "web-.*|db[0-9]", "exc", ".*-test")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"web-1":      true,
		"db1":        true,
		"db12":       false, // the whole name must match, not a prefix
		"mydb1":      false, // nor a suffix
		"web-1-test": false, // excluded
		"other":      false,
	} {
		if got := f.Watched(name); got != want {
			t.Errorf("Watched(%q) = %v, want %v", name, got, want)
		}
	}
	onlyExclude, err := NewFilter("inc", "", "exc", "tmp")
	if err != nil {
		t.Fatal(err)
	}
	if !onlyExclude.Watched("tmp1") || onlyExclude.Watched("tmp") {
		t.Error("an exclude expression alone must leave out exactly the names it matches whole")
	}
	none, err := NewFilter("inc", "", "exc", "")
	if none != nil || err != nil {
		t.Errorf("no expressions: %v, %v; want no filter", none, err)
	}
	if !none.Watched("anything") {
		t.Error("no filter must watch every domain")
	}
}

func TestFilterErrorNamesTheFlag(t *testing.T) {
	for _, c := range []struct{ inc, exc, flag string }{
		{"a(", "", "libvirt.domain-include"},
		{"", "[z-a]", "libvirt.domain-exclude"},
	} {
		_, err := NewFilter("libvirt.domain-include", c.inc, "libvirt.domain-exclude", c.exc)
		if err == nil || !strings.HasPrefix(err.Error(), "--"+c.flag+": ") {
			t.Errorf("include %q exclude %q: error %v, want one naming --%s", c.inc, c.exc, err, c.flag)
		}
	}
}

func TestConnWatchedOnly(t *testing.T) {
	doms := []libvirt.Domain{{Name: "a1"}, {Name: "b1"}, {Name: "a2"}}
	var nilConn *Conn
	if got := nilConn.WatchedOnly(doms); len(got) != 3 {
		t.Errorf("no connection filter: %v", got)
	}
	f, _ := NewFilter("i", "a.*", "e", "a2")
	c := &Conn{filter: f}
	if got := c.WatchedOnly(doms); len(got) != 1 || got[0].Name != "a1" {
		t.Errorf("WatchedOnly = %v, want [a1]", got)
	}
}
