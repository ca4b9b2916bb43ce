package collector

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

// replay sends the metrics of one collection again, described as the
// collector they came from describes itself.
type replay struct {
	of      prometheus.Collector
	metrics []prometheus.Metric
}

func (r replay) Describe(ch chan<- *prometheus.Desc) { r.of.Describe(ch) }

func (r replay) Collect(ch chan<- prometheus.Metric) {
	for _, m := range r.metrics {
		ch <- m
	}
}

// lines is families as sorted text lines.
func lines(t *testing.T, families []*dto.MetricFamily) []string {
	t.Helper()
	var b bytes.Buffer
	for _, f := range families {
		if _, err := expfmt.MetricFamilyToText(&b, f); err != nil {
			t.Fatal(err)
		}
	}
	out := strings.Split(strings.TrimSpace(b.String()), "\n")
	slices.Sort(out)
	return out
}

// What /metrics serves without a registry passes a pedantic registry's
// checks (consistent series, each described by Describe) and is what the
// registry would serve: checked here on one collection of every
// sub-collector over 50 test-driver domains.
func TestGatherMatchesRegistry(t *testing.T) {
	c := newCollector(t, testbed.TestNode(t, "tgather", 50))
	sc := c.WithContext(context.Background())
	ch := make(chan prometheus.Metric)
	go func() { sc.Collect(ch); close(ch) }()
	var collected []prometheus.Metric
	for m := range ch {
		collected = append(collected, m)
	}
	r := replay{of: sc, metrics: collected}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(r)
	want, err := reg.Gather()
	if err != nil {
		t.Fatalf("the registry's checks fail: %v", err)
	}
	got, err := gatherFamilies(r)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := lines(t, got), lines(t, want); !slices.Equal(g, w) {
		t.Errorf("gathered %d lines, the registry %d; first gathered %q, first of the registry's %q", len(g), len(w), g[:3], w[:3])
	}
	if len(collected) < 50*5 {
		t.Errorf("only %d series from 50 domains: the check checked little", len(collected))
	}
}

// A metric of a descriptor not declared with gauge or counter is left out
// with an error, not a panic, and the others are served.
func TestGatherReportsUndeclaredDescriptor(t *testing.T) {
	stray := prometheus.NewDesc("stray", "Not declared by newMetric.", nil, nil)
	r := replay{metrics: []prometheus.Metric{
		prometheus.MustNewConstMetric(stray, prometheus.GaugeValue, 1),
		prometheus.MustNewConstMetric(upMetric.desc, prometheus.GaugeValue, 1),
	}}
	got, err := gatherFamilies(r)
	if err == nil || !strings.Contains(err.Error(), "stray") {
		t.Errorf("error %v, want one naming the stray descriptor", err)
	}
	if len(got) != 1 || got[0].GetName() != "libvirt_up" {
		t.Errorf("gathered %v, want libvirt_up alone", got)
	}
}

// A failure that repeats on every scrape warns once, when it starts, and
// logs at debug level while it lasts, per sub-collector and for the bulk
// reading; a success ends it, so the next failure warns again.
func TestFailuresWarnOncePerOutage(t *testing.T) {
	conn := testbed.Running(t, "qemu:///system?socket=/nonexistent/sock", time.Second)
	var buf testbed.SyncBuffer
	c := newCollectorOn(t, conn, enableAll("domain"), slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	var fail bool
	c.enabled = []*enabled{{name: "pool", subCollector: updateFunc(func(*scrape) error {
		if fail {
			return context.DeadlineExceeded
		}
		return nil
	})}}
	for _, fail = range []bool{true, true, false, true} {
		if _, err := gatherFamilies(c.WithContext(context.Background())); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for l := range strings.Lines(buf.String()) {
		if !strings.Contains(l, "component=collector") {
			continue
		}
		level := strings.Fields(l[strings.Index(l, "level="):])[0]
		what := "reading"
		if i := strings.Index(l, "collector="); i >= 0 {
			what = strings.Fields(l[i:])[0]
		}
		got = append(got, level+" "+what)
	}
	want := []string{
		"level=WARN reading", "level=WARN collector=pool",
		"level=DEBUG reading", "level=DEBUG collector=pool",
		"level=DEBUG reading", "level=INFO collector=pool",
		"level=DEBUG reading", "level=WARN collector=pool",
	}
	if !slices.Equal(got, want) {
		t.Errorf("logged %q, want %q:\n%s", got, want, buf.String())
	}
}
