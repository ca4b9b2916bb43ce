// Package ui serves vAdvisor's built-in live web page under /ui/: a host
// summary, a table of VMs, per-VM charts and an event feed. It is a plain
// client of the REST API and /metrics; every asset is embedded, so the page
// loads nothing from another host and works on air-gapped hypervisors.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Path is where the page is served.
const Path = "/ui/"

//go:embed assets
var assets embed.FS

// Handler serves the page and its assets for requests under Path. The page
// reads libvirt's reachability and versions from metricsPath, the
// --web.telemetry-path.
func Handler(metricsPath string) http.Handler {
	files, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		panic(err)
	}
	// The page's URLs are relative, so it also works behind a proxy that
	// mounts vAdvisor under a prefix.
	index = bytes.Replace(index, []byte("{{metrics}}"), []byte(html.EscapeString(".."+path.Clean("/"+metricsPath))), 1)
	etags := map[string]string{"index.html": etag(index)}
	_ = fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && name != "index.html" {
			b, _ := fs.ReadFile(files, name)
			etags[name] = etag(b)
		}
		return nil
	})
	fileServer := http.FileServerFS(files)
	return http.StripPrefix(Path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, "/")
		if name == "" {
			name = "index.html"
		}
		tag, ok := etags[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		// Only this origin, even if a stored spec or event name carried markup.
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// Revalidate every load: an upgraded binary must not show a stale page.
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", tag)
		if name == "index.html" {
			h.Set("Content-Type", "text/html; charset=utf-8")
			http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(index))
			return
		}
		fileServer.ServeHTTP(w, r)
	}))
}

// Register adds the page to mux under Path (and /ui, redirected there).
func Register(mux *http.ServeMux, metricsPath string) {
	mux.Handle(Path, Handler(metricsPath))
}

func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}
