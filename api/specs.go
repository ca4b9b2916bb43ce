package api

import (
	"errors"
	"log/slog"
	"net/http"
	"reflect"
	"strings"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/domxml"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
	"github.com/vadvisor/vadvisor/libvirtconn"
)

const specsPath = "/api/v1.0/specs"

// maxNameLen bounds a domain name in a request; libvirt has no limit of
// its own, but no real name comes near it.
const maxNameLen = 1024

// Specs serves the domain definitions: libvirt's domain XML as JSON.
type Specs struct {
	conn   *libvirtconn.Conn
	defs   *domxml.Cache
	logger *slog.Logger
}

// NewSpecs lists and looks up domains over conn, and reads their
// definitions through defs, the cache the collector shares.
func NewSpecs(conn *libvirtconn.Conn, defs *domxml.Cache, logger *slog.Logger) *Specs {
	return &Specs{conn: conn, defs: defs, logger: logger}
}

// Register adds /api/v1.0/specs, /api/v1.0/specs/ and
// /api/v1.0/specs/<uuid-or-name>.
func (s *Specs) Register(mux *http.ServeMux) {
	mux.HandleFunc(specsPath, s.serve)
	mux.HandleFunc(specsPath+"/", s.serve)
}

// definition is a domain's definition, as the specs answer it.
type definition struct {
	uuid libvirt.UUID
	def  *domxml.Definition
}

func (s *Specs) serve(w http.ResponseWriter, r *http.Request) {
	if !allowGet(w, r) {
		return
	}
	if r.URL.RawQuery != "" {
		writeError(w, http.StatusBadRequest, "specs take no query parameters")
		return
	}
	ctx := r.Context()
	var doms []libvirt.Domain
	key := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, specsPath), "/")
	switch {
	case key == "":
		list, err := libvirtconn.Do(ctx, s.conn, func(l *libvirt.Libvirt) ([]libvirt.Domain, error) {
			doms, _, err := l.ConnectListAllDomains(1, 0)
			return doms, err
		})
		if err != nil {
			s.libvirtError(w, err)
			return
		}
		doms = s.conn.WatchedOnly(list)
		listed := make(map[libvirt.UUID]bool, len(doms))
		for _, d := range doms {
			listed[d.UUID] = true
		}
		s.defs.Retain(func(uuid libvirt.UUID) bool { return listed[uuid] })
	case len(key) > maxNameLen:
		writeError(w, http.StatusBadRequest, "domain name or uuid too long")
		return
	default:
		dom, err := s.lookup(r, key)
		if err != nil || !s.conn.Watched(dom.Name) {
			if err == nil || libvirt.IsNotFound(err) { // or left out by the domain filter
				writeError(w, http.StatusNotFound, "no domain with uuid or name "+quote(key))
				return
			}
			s.libvirtError(w, err)
			return
		}
		doms = []libvirt.Domain{dom}
	}

	found := make([]definition, 0, len(doms))
	for _, dom := range doms {
		def, err := s.defs.Get(ctx, dom)
		if errors.Is(err, domxml.ErrParse) {
			s.logger.Warn("cannot parse a domain's XML", "domain", dom.Name, "err", err)
			writeError(w, http.StatusInternalServerError, "cannot parse the XML of domain "+quote(dom.Name))
			return
		}
		if err != nil {
			if libvirt.IsNotFound(err) && key == "" {
				continue // undefined since the listing
			}
			if libvirt.IsNotFound(err) {
				writeError(w, http.StatusNotFound, "no domain with uuid or name "+quote(key))
				return
			}
			s.libvirtError(w, err)
			return
		}
		found = append(found, definition{uuid: dom.UUID, def: def})
	}

	out := startJSON(w, r)
	defer out.close()
	var b []byte
	for _, d := range found {
		b = appendDefinition(b[:0], reflect.ValueOf(d.def.Domain))
		out.entry(d.uuid, b)
	}
	out.end()
}

// lookup finds a domain by uuid, then by name: a name may look like a uuid.
func (s *Specs) lookup(r *http.Request, key string) (libvirt.Domain, error) {
	if id, err := libvirtval.ParseUUID(key); err == nil {
		dom, err := libvirtconn.Do(r.Context(), s.conn, func(l *libvirt.Libvirt) (libvirt.Domain, error) {
			return l.DomainLookupByUUID(id)
		})
		if !libvirt.IsNotFound(err) {
			return dom, err
		}
	}
	return libvirtconn.Do(r.Context(), s.conn, func(l *libvirt.Libvirt) (libvirt.Domain, error) {
		return l.DomainLookupByName(key)
	})
}

func (s *Specs) libvirtError(w http.ResponseWriter, err error) {
	if errors.Is(err, libvirtconn.ErrNotConnected) || errors.Is(err, libvirtconn.ErrTimeout) {
		writeError(w, http.StatusServiceUnavailable, "libvirt unavailable: "+err.Error())
		return
	}
	s.logger.Warn("libvirt call for specs failed", "err", err)
	writeError(w, http.StatusBadGateway, "libvirt: "+err.Error())
}
