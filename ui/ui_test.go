package ui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, mux *http.ServeMux, path string, header ...string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Result(), string(body)
}

func TestServesThePage(t *testing.T) {
	mux := http.NewServeMux()
	Register(mux, "/custom/metrics")

	resp, body := get(t, mux, "/ui/")
	if resp.StatusCode != 200 || !strings.Contains(body, `content="../custom/metrics"`) {
		t.Fatalf("/ui/: %d, the page does not point at the telemetry path:\n%s", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("Content-Security-Policy %q lets the page reach other hosts", csp)
	}
	if again, _ := get(t, mux, "/ui/", "If-None-Match", resp.Header.Get("ETag")); again.StatusCode != http.StatusNotModified {
		t.Errorf("revalidating the page: %d, want 304", again.StatusCode)
	}
	for _, asset := range []string{"app.js", "style.css", "vendor/uplot/uPlot.iife.min.js", "vendor/uplot/uPlot.min.css"} {
		if resp, body := get(t, mux, "/ui/"+asset); resp.StatusCode != 200 || len(body) < 100 {
			t.Errorf("/ui/%s: %d, %d bytes", asset, resp.StatusCode, len(body))
		}
	}
	if resp, _ := get(t, mux, "/ui/missing.js"); resp.StatusCode != 404 {
		t.Errorf("/ui/missing.js: %d, want 404", resp.StatusCode)
	}
	if resp, _ := get(t, mux, "/ui"); resp.StatusCode/100 != 3 || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("/ui: %d, want a redirect to /ui/", resp.StatusCode)
	}
}
