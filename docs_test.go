package main

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/events"
	"github.com/vadvisor/vadvisor/history"
	"github.com/vadvisor/vadvisor/internal/docgen"
)

//go:generate go test -count=1 -run TestDocsMatchCode . -args -update-docs

var updateDocs = flag.Bool("update-docs", false, "write docs/metrics.md and docs/flags.md as the code generates them (go generate)")

// The reference pages are what the code generates: the metrics from the
// collector's declarations and the collectors run registers besides (a
// family this misses fails e2e/TestScrapedFamiliesDocumented), the flags
// from the command line run parses.
func TestDocsMatchCode(t *testing.T) {
	store, err := events.NewStore(time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := history.New(nil, time.Second, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := docgen.Metrics(hist, store, events.NewSubscriber(nil, store, nil))
	if err != nil {
		t.Fatal(err)
	}
	app, _ := newApp()
	flags, err := docgen.Flags(app.Model())
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range []struct {
		path string
		text []byte
	}{{"docs/metrics.md", metrics}, {"docs/flags.md", flags}} {
		if *updateDocs {
			if err := os.WriteFile(page.path, page.text, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		committed, err := os.ReadFile(page.path)
		if err != nil {
			t.Fatalf("%v: run go generate ./...", err)
		}
		if !bytes.Equal(committed, page.text) {
			line, have, want := firstDifference(string(committed), string(page.text))
			t.Errorf("%s is not what the code generates: run go generate ./... (line %d is\n\t%s\nand would be\n\t%s)", page.path, line, have, want)
		}
	}
}

// firstDifference is the first line at which a and b differ, and that
// line of each.
func firstDifference(a, b string) (int, string, string) {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return i + 1, x, y
		}
	}
	return 0, "", ""
}
