package outage

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLogWarnsOncePerOutage(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var l Log
	if l.Ended() {
		t.Error("Ended before any failure reported an outage")
	}
	for range 3 {
		l.Failed(logger, "down", "still down", "err", "refused")
	}
	if !l.Ended() {
		t.Error("Ended after failures reported no outage")
	}
	if l.Ended() {
		t.Error("a second Ended reported the same outage again")
	}
	l.Failed(logger, "down", "still down", "err", "refused")

	var levels []string
	for line := range strings.Lines(buf.String()) {
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "level=") {
				levels = append(levels, strings.TrimPrefix(f, "level="))
			}
		}
	}
	if got, want := strings.Join(levels, " "), "WARN DEBUG DEBUG WARN"; got != want {
		t.Errorf("levels %s, want %s; log:\n%s", got, want, buf.String())
	}
	if !strings.Contains(buf.String(), `level=DEBUG msg="still down" err=refused`) {
		t.Errorf("no debug line for the ongoing outage with its attributes:\n%s", buf.String())
	}
}
