package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/vadvisor/vadvisor/events"
)

const eventsPath = "/api/v1.0/events"

const (
	// maxEventsReturned is the max_events of a query that gives none.
	maxEventsReturned  = 10
	streamWriteTimeout = 10 * time.Second
)

// EventsOptions tunes the event streams (main's --events.* flags).
// Heartbeat and StreamBuffer must be positive; a zero WriteTimeout means
// 10 s.
type EventsOptions struct {
	// Heartbeat is how often an idle stream sends an empty line, so that
	// proxies and clients can tell it from a dead one.
	Heartbeat time.Duration
	// StreamBuffer is how many events a stream may fall behind before it
	// is disconnected.
	StreamBuffer int
	// WriteTimeout ends a stream whose client accepts no data for this long.
	WriteTimeout time.Duration
}

// Events serves the event history and live event streams.
type Events struct {
	ctx    context.Context
	store  *events.Store
	opts   EventsOptions
	logger *slog.Logger
}

// NewEvents serves the events of store. Streams end when ctx ends: pass
// the process's lifetime context, so that a graceful shutdown does not
// wait for stream clients that never leave.
func NewEvents(ctx context.Context, store *events.Store, opts EventsOptions, logger *slog.Logger) (*Events, error) {
	if opts.Heartbeat <= 0 {
		return nil, fmt.Errorf("event stream heartbeat must be positive, got %s", opts.Heartbeat)
	}
	if opts.StreamBuffer < 1 {
		return nil, fmt.Errorf("event stream buffer must be at least 1, got %d", opts.StreamBuffer)
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = streamWriteTimeout
	}
	return &Events{ctx: ctx, store: store, opts: opts, logger: logger}, nil
}

// Register adds /api/v1.0/events (and the same with a trailing slash).
func (e *Events) Register(mux *http.ServeMux) {
	mux.HandleFunc(eventsPath, e.serve)
	mux.HandleFunc(eventsPath+"/{$}", e.serve)
}

// eventsRequest is a parsed query.
type eventsRequest struct {
	stream     bool
	start, end time.Time
	limit      int
	since      uint64
	hasSince   bool
	types      events.TypeSet
}

// typeParams maps each type parameter to its type.
var typeParams = func() map[string]events.Type {
	m := map[string]events.Type{}
	for _, t := range events.Types() {
		m[t.Param()] = t
	}
	return m
}()

const knownEventParams = "stream, start_time, end_time, max_events, since, all_events and <type>_events"

func parseEventsQuery(raw string) (eventsRequest, string) {
	req := eventsRequest{limit: maxEventsReturned}
	query, err := url.ParseQuery(raw)
	if err != nil {
		return req, "malformed query: " + err.Error()
	}
	var all, historyOnly []string
	for key, vals := range query {
		if len(vals) != 1 {
			return req, key + " given more than once"
		}
		v := vals[0]
		if t, ok := typeParams[key]; ok {
			on, ok := parseBool(v)
			if !ok {
				return req, key + " must be true or false, got " + quote(v)
			}
			if on {
				req.types = req.types.Add(t)
			}
			continue
		}
		switch key {
		case "stream", "all_events":
			on, ok := parseBool(v)
			if !ok {
				return req, key + " must be true or false, got " + quote(v)
			}
			if key == "stream" {
				req.stream = on
			} else if on {
				all = append(all, key)
			}
		case "start_time", "end_time":
			t, problem := parseTimeParam(key, v)
			if problem != "" {
				return req, problem
			}
			if key == "start_time" {
				req.start = t
			} else {
				req.end = t
			}
			historyOnly = append(historyOnly, key)
		case "max_events":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return req, "max_events must be an integer of at least 1, got " + quote(v)
			}
			req.limit = n
			historyOnly = append(historyOnly, key)
		case "since":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return req, "since must be an event id (a non-negative integer), got " + quote(v)
			}
			req.since, req.hasSince = n, true
		default:
			return req, "unknown query parameter " + quote(key) + "; known are " + knownEventParams
		}
	}
	// Selecting no type at all (all flags absent or false) means every type.
	if len(all) > 0 || req.types == 0 {
		req.types = events.AllTypes
	}
	if req.stream && len(historyOnly) > 0 {
		return req, historyOnly[0] + " applies to the history only, not to stream=true; resume a stream with since=<id>"
	}
	if !req.start.IsZero() && !req.end.IsZero() && req.start.After(req.end) {
		return req, "start_time is after end_time"
	}
	return req, ""
}

func parseBool(v string) (on, ok bool) {
	switch v {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

func (e *Events) serve(w http.ResponseWriter, r *http.Request) {
	if !allowGet(w, r) {
		return
	}
	req, problem := parseEventsQuery(r.URL.RawQuery)
	if problem != "" {
		writeError(w, http.StatusBadRequest, problem)
		return
	}
	if req.stream && r.Method == http.MethodHead {
		ndjsonHeaders(w)
		return
	}
	if req.stream {
		e.serveStream(w, r, req)
		return
	}
	evs := e.store.Query(events.Query{Start: req.start, End: req.end, Types: req.types, After: req.since, Limit: req.limit})
	var b []byte
	for _, ev := range evs {
		b = ev.AppendLine(b)
	}
	ndjsonHeaders(w)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

func ndjsonHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
}

// serveStream sends the events as they are stored, after those the
// client missed if it resumes with since. It never holds up the store: a
// client that falls StreamBuffer events behind gets a final error line
// telling where to resume, and is disconnected.
func (e *Events) serveStream(w http.ResponseWriter, r *http.Request, req eventsRequest) {
	var (
		sub    *events.Subscription
		replay []events.Event
	)
	if req.hasSince {
		sub, replay = e.store.SubscribeAfter(req.types, e.opts.StreamBuffer, req.since)
	} else {
		sub = e.store.Subscribe(req.types, e.opts.StreamBuffer)
	}
	defer sub.Close()

	out := streamOut{w: w, rc: http.NewResponseController(w), timeout: e.opts.WriteTimeout}
	ndjsonHeaders(w)
	// Tells nginx not to buffer the stream.
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if out.rc.Flush() != nil {
		return
	}
	var b []byte
	for i, ev := range replay {
		b = ev.AppendLine(b)
		if len(b) >= 64<<10 || i == len(replay)-1 {
			if !out.send(b) {
				return
			}
			b = b[:0]
		}
	}
	e.follow(r, sub, out)
}

// streamOut writes an event stream. Each batch of writes must get through
// within timeout, or the client is gone or stuck and the stream ends.
type streamOut struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

// send writes and flushes b, and reports whether the client took it.
func (o streamOut) send(b []byte) bool {
	_ = o.rc.SetWriteDeadline(time.Now().Add(o.timeout))
	if _, err := o.w.Write(b); err != nil {
		return false
	}
	return o.rc.Flush() == nil
}

// follow sends sub's lines as they come, and a heartbeat when idle, until
// the client, the server or the subscription ends.
func (e *Events) follow(r *http.Request, sub *events.Subscription, out streamOut) {
	last := sub.Start()
	heartbeat := time.NewTicker(e.opts.Heartbeat)
	defer heartbeat.Stop()
	wrote := false
	lines := sub.Lines()
	var b []byte
	for {
		select {
		case <-r.Context().Done():
			return
		case <-e.ctx.Done():
			return
		case <-heartbeat.C:
			if !wrote && !out.send([]byte("\n")) {
				return
			}
			wrote = false
		case line, ok := <-lines:
			// Whatever else is already waiting goes out in the same flush.
			b = b[:0]
			for ok {
				b = append(b, line.JSON...)
				last = line.ID
				if len(lines) == 0 || len(b) >= 64<<10 {
					break
				}
				line, ok = <-lines
			}
			if len(b) > 0 && !out.send(b) {
				return
			}
			wrote = true
			if !ok {
				if sub.Lagged() {
					e.logger.Info("disconnected an event stream client that fell behind", "remote", r.RemoteAddr, "buffer", e.opts.StreamBuffer)
					msg, _ := json.Marshal(map[string]string{"error": "stream client fell more than " + strconv.Itoa(e.opts.StreamBuffer) +
						" events behind and was disconnected; resume with since=" + strconv.FormatUint(last, 10)})
					out.send(append(msg, '\n'))
				}
				return
			}
		}
	}
}
