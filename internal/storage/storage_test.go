package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// state is a component whose state is a byte string.
type state struct {
	mu      sync.Mutex
	data    []byte
	loads   int
	loadErr error
	saveErr error
}

func (s *state) Save(w io.Writer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := w.Write(s.data); err != nil {
		return err
	}
	return s.saveErr
}

func (s *state) Load(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	if s.loadErr != nil {
		return s.loadErr
	}
	s.data = b
	return nil
}

func (s *state) get() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	var b logBuffer
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

// saveOne writes data as the events' state in dir and returns the file.
func saveOne(t *testing.T, dir string, data []byte) string {
	t.Helper()
	logger, _ := newLogger()
	d := Open(dir, logger)
	d.Keep("events", &state{data: data})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "events.vadv")
}

// What one run saves, the next loads, and only its own component's file.
func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	logger, log := newLogger()
	d := Open(dir, logger)
	events, hist := &state{}, &state{}
	d.Keep("events", events)
	d.Keep("history", hist)
	if strings.Count(log.String(), "no saved state, starting empty") != 2 {
		t.Errorf("a first start does not say it starts empty:\n%s", log)
	}
	events.data, hist.data = []byte("the events"), []byte("the history")
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "events.vadv history.vadv" {
		t.Errorf("the directory holds %v, want events.vadv and history.vadv only", names)
	}

	logger, log = newLogger()
	again := Open(dir, logger)
	events, hist = &state{}, &state{}
	again.Keep("events", events)
	again.Keep("history", hist)
	if string(events.get()) != "the events" || string(hist.get()) != "the history" {
		t.Errorf("loaded %q and %q", events.get(), hist.get())
	}
	if strings.Count(log.String(), "loaded the saved state") != 2 {
		t.Errorf("the loads are not logged:\n%s", log)
	}
}

// A file that cannot be used is logged and ignored: the component stays
// empty, and the next save replaces the file.
func TestBadFilesAreIgnored(t *testing.T) {
	good, err := os.ReadFile(saveOne(t, t.TempDir(), []byte("some events")))
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)-6] ^= 1
	version := bytes.Clone(good)
	version[9] = 2
	var history bytes.Buffer
	if err := write(&history, "history", hostIdentity("/etc/machine-id", os.Hostname), time.Now(), &state{data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	var foreign bytes.Buffer
	if err := write(&foreign, "events", "hostname:elsewhere", time.Now(), &state{data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		content []byte
		loadErr error
		want    string
	}{
		{"empty", nil, nil, "truncated"},
		{"truncated header", good[:20], nil, "truncated"},
		{"truncated payload", good[:len(good)-5], nil, "checksum mismatch"},
		{"truncated checksum", good[:len(good)-1], nil, "checksum mismatch"},
		{"flipped bit", flipped, nil, "checksum mismatch"},
		{"appended byte", append(bytes.Clone(good), 0), nil, "checksum mismatch"},
		{"garbage", bytes.Repeat([]byte("garbage!"), 100), nil, "not a vAdvisor state file"},
		{"other version", version, nil, "format version 2"},
		{"other component", history.Bytes(), nil, "holds the state of"},
		{"other host", foreign.Bytes(), nil, "written on another host"},
		{"load fails", good, errors.New("unknown format"), "unknown format"},
	}
	for _, tc := range cases {
		dir := t.TempDir()
		file := filepath.Join(dir, "events.vadv")
		if err := os.WriteFile(file, tc.content, 0o600); err != nil {
			t.Fatal(err)
		}
		logger, log := newLogger()
		d := Open(dir, logger)
		s := &state{loadErr: tc.loadErr}
		d.Keep("events", s)
		if s.get() != nil {
			t.Errorf("%s: loaded %q", tc.name, s.get())
		}
		if !strings.Contains(log.String(), "level=WARN msg=\"ignoring the saved state, starting empty\"") || !strings.Contains(log.String(), tc.want) {
			t.Errorf("%s: no warning with %q:\n%s", tc.name, tc.want, log)
		}
		if s.loads > 0 && tc.loadErr == nil {
			t.Errorf("%s: Load was called on a bad file", tc.name)
		}
		s.data = []byte("new")
		if err := d.Close(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		loaded := &state{}
		Open(dir, logger).Keep("events", loaded)
		if string(loaded.get()) != "new" {
			t.Errorf("%s: the next save did not replace the bad file: loaded %q", tc.name, loaded.get())
		}
	}
}

// A file too big to be vAdvisor's is refused before it is read.
func TestOversizedFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	file := saveOne(t, dir, []byte("x"))
	if err := os.Truncate(file, maxFileSize+1); err != nil { // sparse: no disk space used
		t.Fatal(err)
	}
	logger, log := newLogger()
	s := &state{}
	start := time.Now()
	Open(dir, logger).Keep("events", s)
	if s.get() != nil || !strings.Contains(log.String(), "more than the 1073741824 a start reads back") {
		t.Errorf("an oversized file was not refused: loaded %q\n%s", s.get(), log)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("refusing the oversized file took %s: it was read", took)
	}
}

// A directory that cannot be used is a warning, once, and nothing is kept.
func TestUnusableDirectoryKeepsNothing(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	for path, why := range map[string]string{
		missing: "stat " + missing + ": no such file or directory",
		notDir:  notDir + " is not a directory",
	} {
		name := filepath.Base(path)
		logger, log := newLogger()
		d := Open(path, logger)
		d.Keep("events", &state{data: []byte("x")})
		if err := d.Close(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		d.Run(ctx)
		if n := strings.Count(log.String(), "level=WARN"); n != 1 || !strings.Contains(log.String(), "cannot keep the state across restarts") || !strings.Contains(log.String(), why) {
			t.Errorf("%s: want one warning, got:\n%s", name, log)
		}
		if _, err := os.Stat(filepath.Join(path, "events.vadv")); err == nil {
			t.Errorf("%s: a state file was written", name)
		}
	}
	logger, log := newLogger()
	Open("", logger).Keep("events", &state{})
	if !strings.Contains(log.String(), "level=INFO msg=\"the state is not kept across restarts (--storage.path is empty)\"") {
		t.Errorf("an empty path is not an info line:\n%s", log)
	}
}

// A failed save leaves the last good file, and no temporary file; a
// temporary file left by a crash is removed at the next start.
func TestFailedSaveKeepsLastFile(t *testing.T) {
	dir := t.TempDir()
	saveOne(t, dir, []byte("good"))
	logger, log := newLogger()
	d := Open(dir, logger)
	s := &state{}
	d.Keep("events", s)
	s.data, s.saveErr = []byte("half"), errors.New("disk full")
	if err := d.Close(); err == nil || !strings.Contains(log.String(), "cannot save the state") {
		t.Errorf("a failed save: err %v, log:\n%s", err, log)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the directory holds %d files after a failed save, want events.vadv only", len(entries))
	}
	loaded := &state{}
	Open(dir, logger).Keep("events", loaded)
	if string(loaded.get()) != "good" {
		t.Errorf("after a failed save, loaded %q, want the last good state", loaded.get())
	}

	left := filepath.Join(dir, ".events.vadv.tmp-123")
	if err := os.WriteFile(left, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	Open(dir, logger)
	if _, err := os.Stat(left); err == nil {
		t.Error("a temporary file left by a crash is still there after a start")
	}
}

// Besides the final write, Run writes every interval until it is stopped.
func TestRunWritesPeriodically(t *testing.T) {
	dir := t.TempDir()
	logger, _ := newLogger()
	d := Open(dir, logger)
	d.every = 10 * time.Millisecond
	s := &state{data: []byte("first")}
	d.Keep("events", s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	for _, want := range []string{"first", "second"} {
		s.mu.Lock()
		s.data = []byte(want)
		s.mu.Unlock()
		deadline := time.Now().Add(5 * time.Second)
		for {
			loaded := &state{}
			Open(dir, logger).Keep("events", loaded)
			if string(loaded.get()) == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%q was not written within 5s", want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not end with its context")
	}
}

// The machine ID identifies the host, hashed; without one, the host name.
func TestHostIdentity(t *testing.T) {
	dir := t.TempDir()
	const machineID = "0123456789abcdef0123456789abcdef"
	file := filepath.Join(dir, "machine-id")
	if err := os.WriteFile(file, []byte(machineID+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostname := func() (string, error) { return "hv1", nil }
	a := hostIdentity(file, hostname)
	if !strings.HasPrefix(a, "machine-id:") || strings.Contains(a, machineID) || a != hostIdentity(file, hostname) {
		t.Errorf("identity %q: want a stable hash of the machine ID", a)
	}
	if err := os.WriteFile(file, []byte("fedcba9876543210fedcba9876543210\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b := hostIdentity(file, hostname); b == a {
		t.Errorf("two machine IDs give the same identity %q", a)
	}
	for name, content := range map[string]string{"uninitialized": "uninitialized\n", "empty": ""} {
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := hostIdentity(file, hostname); got != "hostname:hv1" {
			t.Errorf("%s machine ID: identity %q, want the host name", name, got)
		}
	}
	if got := hostIdentity(filepath.Join(dir, "missing"), hostname); got != "hostname:hv1" {
		t.Errorf("no machine ID: identity %q, want the host name", got)
	}
}

// Garbage never panics, never reaches the component unless it is a whole
// file, and a file read is the file that its payload writes.
func FuzzRead(f *testing.F) {
	written := time.Date(2026, 11, 23, 19, 0, 0, 0, time.UTC)
	var valid bytes.Buffer
	if err := write(&valid, "events", "hostname:hv1", written, &state{data: []byte("some events")}); err != nil {
		f.Fatal(err)
	}
	f.Add(valid.Bytes())
	f.Add(valid.Bytes()[:30])
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &state{}
		when, err := read(bytes.NewReader(data), int64(len(data)), "events", "hostname:hv1", s)
		if err != nil {
			if s.loads > 0 {
				t.Fatalf("Load was called on a file refused with %v", err)
			}
			return
		}
		var again bytes.Buffer
		if err := write(&again, "events", "hostname:hv1", when, s); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.Bytes(), data) {
			t.Fatalf("read %q, which writes %q", data, again.Bytes())
		}
	})
}
