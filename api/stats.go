package api

import (
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/history"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
)

const statsPath = "/api/v1.0/stats"

// Stats serves the per-VM history and, with live=true, a fresh reading.
type Stats struct {
	history *history.History // nil: history is off
	reader  *domstats.Reader
	logger  *slog.Logger
}

// NewStats serves h, nil when the history is off; live readings come from
// reader, the one the sampler and the collector share, so a live request
// never races their calls.
func NewStats(h *history.History, reader *domstats.Reader, logger *slog.Logger) *Stats {
	return &Stats{history: h, reader: reader, logger: logger}
}

// Register adds /api/v1.0/stats, /api/v1.0/stats/ and /api/v1.0/stats/<uuid>.
func (s *Stats) Register(mux *http.ServeMux) {
	mux.HandleFunc(statsPath, s.serve)
	mux.HandleFunc(statsPath+"/", s.serve)
}

// HistoryOff is the error of a history request when the history is off.
const HistoryOff = "the history is off (--history.interval=0): only ?live=true readings are served"

// statsRequest is a stats request's query.
type statsRequest struct {
	live       bool
	start, end time.Time     // start_time, end_time, clamped to 1970-2262; zero when not given
	step       time.Duration // 0: every sample
}

// defaultSpan is what a request without start_time covers, as the
// original vAdvisor answered: the last 60 s before end_time.
const defaultSpan = 60 * time.Second

const knownStatsParams = "live, start_time, end_time and step"

func parseStatsQuery(raw string) (statsRequest, string) {
	var req statsRequest
	query, err := url.ParseQuery(raw)
	if err != nil {
		return req, "malformed query: " + err.Error()
	}
	var (
		historyOnly []string
		start, end  time.Time
	)
	for key, vals := range query {
		if len(vals) != 1 {
			return req, key + " is given more than once"
		}
		switch v := vals[0]; key {
		case "live":
			if v != "true" && v != "false" {
				return req, "live must be true or false, got " + quote(v)
			}
			req.live = v == "true"
		case "start_time", "end_time":
			t, problem := parseTimeParam(key, v)
			if problem != "" {
				return req, problem
			}
			// Clamped, a given time is never zero: year 1 is 1970.
			if key == "start_time" {
				start, req.start = t, unixNanoRange(t)
			} else {
				end, req.end = t, unixNanoRange(t)
			}
			historyOnly = append(historyOnly, key)
		case "step":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return req, "step must be a positive duration such as 10s or 1m, got " + quote(v)
			}
			req.step = d
			historyOnly = append(historyOnly, key)
		default:
			return req, "unknown query parameter " + quote(key) + "; the parameters are " + knownStatsParams
		}
	}
	if req.live && len(historyOnly) > 0 {
		return req, historyOnly[0] + " applies to the history, not to live=true"
	}
	if !req.start.IsZero() && !req.end.IsZero() && start.After(end) {
		return req, "start_time is after end_time"
	}
	return req, ""
}

// query is the history query of req, given the newest sample's time and
// the sampling interval, or the reason why there is none. end_time after
// the newest sample ends at it: samples recorded while the answer is
// written wait for the next, so a client that asks for what is newer than
// the newest sample it got misses none.
func (req statsRequest) query(newest time.Time, interval time.Duration) (history.Query, string) {
	if req.step != 0 && req.step < interval {
		return history.Query{}, "step must be at least the history interval (" + interval.String() + "), got " + req.step.String()
	}
	end := req.end
	if end.IsZero() {
		end = newest
	}
	from := req.start
	if from.IsZero() {
		// Exclusive of the span's start, as the retention is: 60 s at 1 s
		// are 60 samples, not 61.
		from = end.Add(-defaultSpan + 1)
	}
	if end.After(newest) {
		end = newest
	}
	return history.Query{From: unixNanoRange(from), To: end, Step: req.step}, ""
}

// unixNanoRange clamps t to the times that Unix nanoseconds can hold
// (1970 to 2262), which every sample's time is within, so that a client's
// year 1 or 9999 selects what it means.
func unixNanoRange(t time.Time) time.Time {
	lo, hi := time.Unix(0, 0), time.Unix(0, math.MaxInt64)
	switch {
	case t.Before(lo):
		return lo
	case t.After(hi):
		return hi
	}
	return t
}

func (s *Stats) serve(w http.ResponseWriter, r *http.Request) {
	if !allowGet(w, r) {
		return
	}
	req, problem := parseStatsQuery(r.URL.RawQuery)
	if problem != "" {
		writeError(w, http.StatusBadRequest, problem)
		return
	}
	var (
		id  libvirt.UUID
		one bool
	)
	if rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, statsPath), "/"); rest != "" {
		var err error
		if id, err = libvirtval.ParseUUID(rest); err != nil {
			writeError(w, http.StatusBadRequest, "malformed uuid "+quote(rest)+": "+err.Error())
			return
		}
		one = true
	}
	if req.live {
		s.serveLive(w, r, id, one)
		return
	}
	if s.history == nil {
		writeError(w, http.StatusConflict, HistoryOff)
		return
	}
	q, problem := req.query(s.history.Newest(), s.history.Interval())
	if problem != "" {
		writeError(w, http.StatusBadRequest, problem)
		return
	}
	if one {
		var out *jsonOut
		found := s.history.Range(id, q, func(t time.Time, d *domstats.Domain) bool {
			if out == nil {
				out = startJSON(w, r)
				out.begin(id)
			}
			return out.sample(t, d)
		})
		if !found {
			writeError(w, http.StatusNotFound, "no history for VM "+libvirtval.UUIDString(id))
			return
		}
		if out == nil { // nothing in the range
			out = startJSON(w, r)
			out.begin(id)
		}
		defer out.close()
		out.finish()
		out.end()
		return
	}
	out := startJSON(w, r)
	defer out.close()
	for _, id := range s.history.UUIDs() {
		begun := false // a VM with nothing in the range is left out
		s.history.Range(id, q, func(t time.Time, d *domstats.Domain) bool {
			if !begun {
				out.begin(id)
				begun = true
			}
			return out.sample(t, d)
		})
		if begun {
			out.finish()
		}
		if out.err != nil {
			return // the client went away
		}
	}
	out.end()
}

// serveLive answers with one sample per active VM from a fresh reading.
func (s *Stats) serveLive(w http.ResponseWriter, r *http.Request, id libvirt.UUID, one bool) {
	reading, err := s.reader.ReadSample(r.Context())
	if err != nil {
		if r.Context().Err() == nil {
			s.logger.Debug("live stats request failed", "err", err)
		}
		writeError(w, http.StatusServiceUnavailable, "cannot read domain stats from libvirt: "+err.Error())
		return
	}
	var doms []*domstats.Domain
	for i := range reading.Domains {
		d := &reading.Domains[i]
		if d.Active() && (!one || d.UUID == id) {
			doms = append(doms, d)
		}
	}
	if one && len(doms) == 0 {
		writeError(w, http.StatusNotFound, "no running VM "+libvirtval.UUIDString(id))
		return
	}
	out := startJSON(w, r)
	defer out.close()
	for _, d := range doms {
		out.series(d.UUID, 1, func(b []byte, _ int) []byte { return appendSample(b, reading.Time, d) })
	}
	out.end()
}
