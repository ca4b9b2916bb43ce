// Package httpgzip compresses HTTP answers, /metrics and the API's alike,
// for a client that accepts gzip: at gzip.BestSpeed (klauspost's, several
// times faster than the standard library's default level), with pooled
// writers.
package httpgzip

import (
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
)

var writers = sync.Pool{New: func() any {
	gz, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return gz
}}

// Start begins the body of an answer: gzipped, with its Content-Encoding
// set, if r accepts gzip; else w itself. Call it before the headers are
// written; it sets Vary either way. end finishes the body, when complete
// is true, and returns the writer to the pool: call it once, after the
// last write.
func Start(w http.ResponseWriter, r *http.Request) (body io.Writer, end func(complete bool)) {
	w.Header().Add("Vary", "Accept-Encoding")
	if !Accepts(r) {
		return w, func(bool) {}
	}
	w.Header().Set("Content-Encoding", "gzip")
	gz := writers.Get().(*gzip.Writer)
	gz.Reset(w)
	return gz, func(complete bool) {
		if complete {
			_ = gz.Close() // a failed write of the trailer: the client went away
		}
		gz.Reset(io.Discard)
		writers.Put(gz)
	}
}

// Handler gzips what h answers, for a client that accepts it. h must not
// set Content-Length.
func Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, end := Start(w, r)
		h.ServeHTTP(responseWriter{w, body}, r)
		end(true)
	})
}

// responseWriter writes the body through a compressor.
type responseWriter struct {
	http.ResponseWriter
	body io.Writer
}

func (w responseWriter) Write(b []byte) (int, error) { return w.body.Write(b) }

// Accepts reads Accept-Encoding: gzip, unless its q is 0.
func Accepts(r *http.Request) bool {
	for _, h := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(h, ",") {
			coding, params, _ := strings.Cut(part, ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			if q == "q=0" || q == "q=0.0" || q == "q=0.00" || q == "q=0.000" {
				continue
			}
			return true
		}
	}
	return false
}
