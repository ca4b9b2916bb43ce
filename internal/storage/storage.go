// Package storage keeps components' state (the event store, the history)
// in files across restarts: one file per component in a directory, written
// atomically every Interval and on shutdown, and read back at start. A
// file that cannot be used is logged and ignored: the component starts
// empty, and vAdvisor starts regardless.
//
// Run, Close and Dir.mu are in docs/design.md, "Goroutines and locks"; a
// component's own lock is its business (see Snapshotter).
package storage

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Snapshotter is a component whose state is kept across restarts.
type Snapshotter interface {
	// Save writes the state. w is the file: copy what is needed under
	// the component's lock and write without it, so that a slow disk
	// holds up nothing else.
	Save(w io.Writer) error
	// Load restores what Save wrote, leaving out what is older than the
	// component's retention. It is called before the component runs,
	// with data whose checksum matched; it must still refuse data it
	// cannot read (a format of its own it does not know, say), and leave
	// the component as it was when it returns an error.
	Load(r io.Reader) error
}

// Interval is how often the state is written besides on shutdown: a crash
// loses at most this much.
const Interval = 10 * time.Minute

// maxFileSize is the largest file read back; a bigger one is not
// vAdvisor's, or not worth the start-up time.
const maxFileSize = 1 << 30

// Dir is the directory the state is kept in. The zero Dir, and a Dir
// whose directory cannot be used, keep nothing.
type Dir struct {
	path   string // absolute; "" keeps nothing
	host   string
	logger *slog.Logger
	every  time.Duration

	mu         sync.Mutex
	components []component
}

type component struct {
	name string
	s    Snapshotter
}

// Open keeps state in the directory path; "" keeps none. A directory that
// does not exist or is not writable is logged once and keeps nothing:
// vAdvisor runs on without its state rather than not at all. A relative
// path is taken from the working directory.
func Open(path string, logger *slog.Logger) *Dir {
	if path == "" {
		logger.Info("the state is not kept across restarts (--storage.path is empty)")
		return &Dir{}
	}
	abs, err := usable(path)
	if err != nil {
		logger.Warn("cannot keep the state across restarts: create the directory, writable by vadvisor's user, or set --storage.path= to turn this off",
			"path", path, "err", err)
		return &Dir{}
	}
	d := &Dir{path: abs, host: hostIdentity("/etc/machine-id", os.Hostname), logger: logger, every: Interval}
	d.removeTemporary()
	logger.Info("keeping the state across restarts", "path", abs, "host", d.host)
	return d
}

// usable is path made absolute if it is a directory this process may
// create files in.
func usable(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%s is not a directory", abs)
	}
	probe, err := os.CreateTemp(abs, tempPattern("probe"))
	if err != nil {
		return "", err
	}
	_ = probe.Close()
	return abs, os.Remove(probe.Name())
}

// tempPattern names a file being written; one left by a crash is removed
// at the next start.
func tempPattern(name string) string { return "." + name + ".vadv.tmp-*" }

func (d *Dir) removeTemporary() {
	left, _ := filepath.Glob(filepath.Join(d.path, tempPattern("*")))
	for _, f := range left {
		if err := os.Remove(f); err != nil {
			d.logger.Warn("cannot remove a file left by an interrupted write", "file", f, "err", err)
		}
	}
}

// file is where the state of the component name is kept.
func (d *Dir) file(name string) string { return filepath.Join(d.path, name+".vadv") }

// Keep loads the saved state of the component name into s, and has Save
// write it from now on. Call it before s runs, and before Run.
func (d *Dir) Keep(name string, s Snapshotter) {
	if d.path == "" {
		return
	}
	d.mu.Lock()
	d.components = append(d.components, component{name, s})
	d.mu.Unlock()
	file := d.file(name)
	written, size, err := d.load(file, name, s)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.logger.Info("no saved state, starting empty", "state", name, "file", file)
	case err != nil:
		d.logger.Warn("ignoring the saved state, starting empty", "state", name, "file", file, "err", err)
	default:
		d.logger.Info("loaded the saved state", "state", name, "file", file, "bytes", size,
			"written", written.UTC().Format(time.RFC3339), "age", time.Since(written).Round(time.Second))
	}
}

func (d *Dir) load(file, name string, s Snapshotter) (written time.Time, size int64, err error) {
	f, err := os.Open(file)
	if err != nil {
		return time.Time{}, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return time.Time{}, 0, err
	}
	if !fi.Mode().IsRegular() {
		return time.Time{}, 0, errors.New("not a regular file")
	}
	written, err = read(f, fi.Size(), name, d.host, s)
	return written, fi.Size(), err
}

// Run writes the state every Interval until ctx ends. The final write is
// Close's, once the components have stopped.
func (d *Dir) Run(ctx context.Context) {
	if d.path == "" {
		return
	}
	tick := time.NewTicker(d.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_ = d.save(slog.LevelDebug) // it logs a failure
		}
	}
}

// Close writes every component's state a last time, and logs it.
func (d *Dir) Close() error { return d.save(slog.LevelInfo) }

// save writes every component's state, each to a file of its own, and
// logs each at level. A failure is logged as a warning, and leaves the last
// good file in place.
func (d *Dir) save(level slog.Level) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for _, c := range d.components {
		start := time.Now()
		size, err := d.write(c)
		if err != nil {
			d.logger.Warn("cannot save the state", "state", c.name, "file", d.file(c.name), "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
			continue
		}
		d.logger.Log(context.Background(), level, "saved the state", "state", c.name, "file", d.file(c.name), "bytes", size, "took", time.Since(start))
	}
	return errors.Join(errs...)
}

// write writes c's state to a new file beside the old one, flushes it to
// disk and renames it over the old one, so that a crash at any point
// leaves the old file or the new one, whole.
func (d *Dir) write(c component) (size int64, err error) {
	tmp, err := os.CreateTemp(d.path, tempPattern(c.name))
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	count := &counter{w: tmp}
	if err = write(count, c.name, d.host, time.Now(), c.s); err != nil {
		return 0, err
	}
	if count.n > maxFileSize {
		return 0, fmt.Errorf("%d bytes, more than the %d a start reads back", count.n, maxFileSize)
	}
	if err = tmp.Sync(); err != nil {
		return 0, err
	}
	if err = tmp.Close(); err != nil {
		return 0, err
	}
	if err = os.Rename(tmp.Name(), d.file(c.name)); err != nil {
		return 0, err
	}
	// The rename itself is on disk only once the directory is.
	dir, err := os.Open(d.path)
	if err != nil {
		return 0, err
	}
	defer dir.Close()
	return count.n, dir.Sync()
}

type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// The file format (integers big-endian):
//
//	magic      8 bytes   "vAdvisor"
//	version    2 bytes   formatVersion
//	component  1 + n     length and name ("events", "history")
//	host       1 + n     length and the host's identity (hostIdentity)
//	written    8 bytes   Unix nanoseconds
//	payload              what the component's Save wrote
//	checksum   4 bytes   CRC-32C of every byte before it
//
// The component versions its payload itself.
const (
	magic         = "vAdvisor"
	formatVersion = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func write(w io.Writer, name, host string, written time.Time, s Snapshotter) error {
	sum := crc32.New(castagnoli)
	bw := bufio.NewWriter(io.MultiWriter(w, sum))
	hdr := append([]byte(magic), 0, formatVersion)
	hdr = append(append(hdr, byte(len(name))), name...)
	hdr = append(append(hdr, byte(len(host))), host...)
	hdr = binary.BigEndian.AppendUint64(hdr, uint64(written.UnixNano()))
	if _, err := bw.Write(hdr); err != nil {
		return err
	}
	if err := s.Save(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(sum.Sum(nil))
	return err
}

// read checks the file of size bytes that r reads: its header, then its
// checksum; only then does it hand the payload to s.Load.
func read(r io.ReadSeeker, size int64, name, host string, s Snapshotter) (time.Time, error) {
	if size > maxFileSize {
		return time.Time{}, fmt.Errorf("%d bytes, more than the %d a start reads back", size, maxFileSize)
	}
	br := bufio.NewReader(io.LimitReader(r, size))
	head := make([]byte, len(magic)+2)
	if _, err := io.ReadFull(br, head); err != nil {
		return time.Time{}, fmt.Errorf("truncated: %d bytes", size)
	}
	if string(head[:len(magic)]) != magic {
		return time.Time{}, errors.New("not a vAdvisor state file")
	}
	if v := binary.BigEndian.Uint16(head[len(magic):]); v != formatVersion {
		return time.Time{}, fmt.Errorf("format version %d, this vAdvisor reads %d", v, formatVersion)
	}
	field := func() (string, error) {
		n, err := br.ReadByte()
		if err != nil {
			return "", fmt.Errorf("truncated: %d bytes", size)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			return "", fmt.Errorf("truncated: %d bytes", size)
		}
		return string(b), nil
	}
	gotName, err := field()
	if err != nil {
		return time.Time{}, err
	}
	if gotName != name {
		return time.Time{}, fmt.Errorf("holds the state of %q, not of %q", gotName, name)
	}
	gotHost, err := field()
	if err != nil {
		return time.Time{}, err
	}
	if gotHost != host {
		return time.Time{}, fmt.Errorf("written on another host (%q; this is %q)", gotHost, host)
	}
	var stamp [8]byte
	if _, err := io.ReadFull(br, stamp[:]); err != nil {
		return time.Time{}, fmt.Errorf("truncated: %d bytes", size)
	}
	written := time.Unix(0, int64(binary.BigEndian.Uint64(stamp[:])))
	payloadAt := len(head) + 2 + len(name) + len(host) + len(stamp)
	payload := size - int64(payloadAt) - crc32.Size
	if payload < 0 {
		return time.Time{}, fmt.Errorf("truncated: %d bytes", size)
	}

	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return time.Time{}, err
	}
	sum := crc32.New(castagnoli)
	if _, err := io.CopyN(sum, r, size-crc32.Size); err != nil {
		return time.Time{}, err
	}
	var want [crc32.Size]byte
	if _, err := io.ReadFull(r, want[:]); err != nil {
		return time.Time{}, err
	}
	if sum.Sum32() != binary.BigEndian.Uint32(want[:]) {
		return time.Time{}, errors.New("checksum mismatch: the file is truncated or damaged")
	}

	if _, err := r.Seek(int64(payloadAt), io.SeekStart); err != nil {
		return time.Time{}, err
	}
	if err := s.Load(io.LimitReader(r, payload)); err != nil {
		return time.Time{}, err
	}
	return written, nil
}

// hostIdentity names the host a file was written on, known without
// libvirt (its host UUID is not known before connecting, and vAdvisor
// starts without waiting for libvirt): the machine ID, which survives a
// rename of the host, hashed with a key of vAdvisor's own as
// machine-id(5) asks; else, as in a container without the host's
// /etc/machine-id, the host name.
func hostIdentity(machineIDFile string, hostname func() (string, error)) string {
	if b, err := os.ReadFile(machineIDFile); err == nil {
		id := strings.TrimSpace(string(b))
		if _, err := hex.DecodeString(id); err == nil && len(id) == 32 {
			mac := hmac.New(sha256.New, []byte(id))
			mac.Write([]byte("vadvisor state"))
			return "machine-id:" + hex.EncodeToString(mac.Sum(nil)[:16])
		}
	}
	name, err := hostname()
	if err != nil {
		return "unknown"
	}
	// Fits the file's one-byte length.
	return "hostname:" + name[:min(len(name), 200)]
}
