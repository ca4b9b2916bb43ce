package httpgzip

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// A client that accepts gzip gets the body gzipped, whole; one that does
// not, or refuses it with q=0, gets it plain. Both learn that the answer
// varies with Accept-Encoding.
func TestHandlerGzipsForClientsThatAcceptIt(t *testing.T) {
	const text = "libvirt_up 1\n"
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		for range 100 {
			_, _ = io.WriteString(w, text)
		}
	}))
	for _, tc := range []struct {
		accept string
		gzip   bool
	}{
		{"", false},
		{"gzip", true},
		{"deflate, GZIP;q=0.8", true},
		{"gzip;q=0", false},
		{"gzip; q=0.000, identity", false},
		{"br", false},
	} {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if tc.accept != "" {
			req.Header.Set("Accept-Encoding", tc.accept)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("Content-Encoding") == "gzip"; got != tc.gzip {
			t.Errorf("Accept-Encoding %q: gzipped %v, want %v", tc.accept, got, tc.gzip)
		}
		if rec.Header().Get("Vary") != "Accept-Encoding" {
			t.Errorf("Accept-Encoding %q: Vary %q", tc.accept, rec.Header().Get("Vary"))
		}
		var body io.Reader = rec.Body
		if tc.gzip {
			zr, err := gzip.NewReader(rec.Body)
			if err != nil {
				t.Fatalf("Accept-Encoding %q: %v", tc.accept, err)
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil || len(b) != 100*len(text) {
			t.Errorf("Accept-Encoding %q: %d bytes (%v), want %d", tc.accept, len(b), err, 100*len(text))
		}
	}
}
