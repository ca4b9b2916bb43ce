// Package api serves vAdvisor's REST API: stats history, the host's state,
// domain specs and lifecycle events. This file holds what they share:
// method and error answers, time parameters, the streamed JSON body.
package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/internal/httpgzip"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
)

// allowGet answers anything but GET and HEAD with a 405.
func allowGet(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; use GET")
	return false
}

// quote shortens what a client sent before echoing it in an error.
func quote(s string) string {
	const limit = 64
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return string(appendString(nil, s))
}

// writeError answers with a JSON error body, the form every API error takes.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// parseTimeParam reads the time parameter key, or says what is wrong with it.
func parseTimeParam(key, v string) (time.Time, string) {
	t, ok := parseTime(v)
	if !ok {
		return t, key + " must be an RFC 3339 time such as 2026-11-23T19:05:34Z, 2026-11-23T20:05:34+01:00 or 2026-11-23T19:05:34 (UTC), got " + quote(v)
	}
	return t, ""
}

// parseTime reads RFC 3339 with "Z" or an offset, or without a zone as UTC.
func parseTime(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	// A "+" of an offset that was not percent-encoded arrives as a space.
	if strings.Contains(v, " ") {
		return parseTime(strings.ReplaceAll(v, " ", "+"))
	}
	return time.Time{}, false
}

// jsonOut streams one JSON object keyed by uuid through a buffer and, when
// the client accepts it, gzip. After a write error (or for a HEAD request)
// it drops the rest.
type jsonOut struct {
	buf     *bufio.Writer
	endBody func(complete bool) // ends the gzip stream, if any
	chunk   []byte
	first   bool
	n       int // samples in the current array
	err     error
}

var bufPool = sync.Pool{New: func() any { return bufio.NewWriterSize(io.Discard, 64<<10) }}

func startJSON(w http.ResponseWriter, r *http.Request) *jsonOut {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	out := &jsonOut{first: true, chunk: make([]byte, 0, 4096)}
	var dst io.Writer
	dst, out.endBody = httpgzip.Start(w, r)
	w.WriteHeader(http.StatusOK)
	out.buf = bufPool.Get().(*bufio.Writer)
	out.buf.Reset(dst)
	if r.Method == http.MethodHead {
		out.err = errNoBody // headers only: build nothing
	}
	out.write(append(out.chunk[:0], '{'))
	return out
}

var errNoBody = errors.New("HEAD request: no body")

func (o *jsonOut) write(b []byte) {
	if o.err == nil {
		_, o.err = o.buf.Write(b)
	}
}

// key starts the entry of id.
func (o *jsonOut) key(b []byte, id libvirt.UUID) []byte {
	if !o.first {
		b = append(b, ',')
	}
	o.first = false
	b = append(b, '"')
	b = append(b, libvirtval.UUIDString(id)...)
	return append(b, `":`...)
}

// entry writes "<uuid>":value.
func (o *jsonOut) entry(id libvirt.UUID, value []byte) {
	o.write(o.key(o.chunk[:0], id))
	o.write(value)
}

// begin starts the array of id's samples; sample adds one, and finish
// ends it. sample reports whether the client still listens.
func (o *jsonOut) begin(id libvirt.UUID) {
	o.write(append(o.key(o.chunk[:0], id), '['))
	o.n = 0
}

func (o *jsonOut) sample(t time.Time, d *domstats.Domain) bool {
	b := o.chunk[:0]
	if o.n > 0 {
		b = append(b, ',')
	}
	o.n++
	b = appendSample(b, t, d)
	o.write(b)
	o.chunk = b[:0]
	return o.err == nil
}

func (o *jsonOut) finish() { o.write(append(o.chunk[:0], ']')) }

// series writes "<uuid>":[...] with n samples, each appended by sample.
func (o *jsonOut) series(id libvirt.UUID, n int, sample func(b []byte, i int) []byte) {
	b := append(o.key(o.chunk[:0], id), '[')
	for i := 0; i < n && o.err == nil; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = sample(b, i)
		o.write(b)
		b = b[:0]
	}
	o.write(append(b, ']'))
	o.chunk = b[:0]
}

func (o *jsonOut) end() {
	o.write(append(o.chunk[:0], "}\n"...))
}

// close flushes what is left and returns the writers to their pools.
func (o *jsonOut) close() {
	if o.err == nil {
		o.err = o.buf.Flush()
	}
	o.buf.Reset(io.Discard)
	bufPool.Put(o.buf)
	o.endBody(o.err == nil)
}
