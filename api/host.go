package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/events"
	"github.com/vadvisor/vadvisor/history"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

const hostPath = "/api/v1.0/host"

// Host serves what is known of the host without a libvirt call of its
// own, so that a page that polls it costs libvirt nothing: whether the
// connection is up, the domains of the latest reading (the sampler's, or
// a scrape's or live request's when the history is off), the history's
// settings and what the event history covers.
type Host struct {
	conn    *libvirtconn.Conn
	reader  *domstats.Reader
	history *history.History // nil: off
	events  *events.Store
}

// NewHost serves the state of conn, reader, h (nil when off) and store.
func NewHost(conn *libvirtconn.Conn, reader *domstats.Reader, h *history.History, store *events.Store) *Host {
	return &Host{conn: conn, reader: reader, history: h, events: store}
}

// Register adds /api/v1.0/host.
func (h *Host) Register(mux *http.ServeMux) { mux.HandleFunc(hostPath, h.serve) }

type hostJSON struct {
	LibvirtURI string       `json:"libvirt_uri"`
	LibvirtUp  bool         `json:"libvirt_up"`
	Reading    *readingJSON `json:"reading"` // null before the first
	History    *historyJSON `json:"history"` // null when off
	Events     eventsJSON   `json:"events"`
}

type readingJSON struct {
	Timestamp     time.Time `json:"timestamp"`
	Domains       int       `json:"domains"`
	ActiveDomains int       `json:"active_domains"`
}

type historyJSON struct {
	IntervalSeconds  float64 `json:"interval_seconds"`
	RetentionSeconds float64 `json:"retention_seconds"`
}

// eventsJSON tells a client what an empty event history means: no event
// since KeptSince (vAdvisor's start, or the retention ago).
type eventsJSON struct {
	RetentionSeconds float64   `json:"retention_seconds"`
	KeptSince        time.Time `json:"kept_since"`
}

func (h *Host) serve(w http.ResponseWriter, r *http.Request) {
	if !allowGet(w, r) {
		return
	}
	if r.URL.RawQuery != "" {
		writeError(w, http.StatusBadRequest, "this path takes no query parameters")
		return
	}
	out := hostJSON{LibvirtURI: h.conn.URI(), LibvirtUp: h.conn.Connected(),
		Events: eventsJSON{RetentionSeconds: h.events.Retention().Seconds(), KeptSince: h.events.KeptSince()}}
	if rd := h.reader.Latest(); rd != nil {
		out.Reading = &readingJSON{Timestamp: rd.Time.UTC(), Domains: len(rd.Domains)}
		for i := range rd.Domains {
			if rd.Domains[i].Active() {
				out.Reading.ActiveDomains++
			}
		}
	}
	if h.history != nil {
		out.History = &historyJSON{IntervalSeconds: h.history.Interval().Seconds(), RetentionSeconds: h.history.Retention().Seconds()}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(out)
}
