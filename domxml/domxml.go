// Package domxml reads domain definitions, libvirt's domain XML, for the
// collector and the REST API, and parses each definition once: the one
// cache of definitions, by domain uuid, refreshed when the XML changes.
package domxml

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/vadvisor/vadvisor/libvirtconn"
)

// ErrParse is returned for XML that libvirtxml cannot parse.
var ErrParse = errors.New("cannot parse the domain XML")

// Definition is a parsed domain definition. Its users share it: it must
// not be modified.
type Definition struct {
	*libvirtxml.Domain
	sum [sha256.Size]byte // of the XML it was parsed from

	derivedOnce sync.Once
	derived     any
}

// Derived is what derive makes of the definition, made by the first call
// only: the collector works out what it exports of a definition once.
// Every call must pass the same derive.
func (d *Definition) Derived(derive func(*libvirtxml.Domain) any) any {
	d.derivedOnce.Do(func() { d.derived = derive(d.Domain) })
	return d.derived
}

// Cache holds the parsed definition of each domain it was asked for.
type Cache struct {
	conn *libvirtconn.Conn
	mu   sync.Mutex
	defs map[libvirt.UUID]*entry
}

// entry is a domain's definition, and when it was fetched.
type entry struct {
	def     *Definition
	id      int32 // the domain's id then: a restart makes a new live XML
	fetched time.Time
}

// New reads definitions over conn.
func New(conn *libvirtconn.Conn) *Cache {
	return &Cache{conn: conn, defs: map[libvirt.UUID]*entry{}}
}

// Get fetches dom's XML, one bounded call, and returns its definition:
// the one parsed before if the XML is the same, else a new parse. A
// domain libvirt no longer knows is forgotten.
func (c *Cache) Get(ctx context.Context, dom libvirt.Domain) (*Definition, error) {
	doc, err := libvirtconn.Do(ctx, c.conn, func(l *libvirt.Libvirt) (string, error) {
		return l.DomainGetXMLDesc(dom, 0)
	})
	if err != nil {
		if libvirt.IsNotFound(err) {
			c.mu.Lock()
			delete(c.defs, dom.UUID)
			c.mu.Unlock()
		}
		return nil, err
	}
	fetched := time.Now()
	def, err := c.parse(dom.UUID, doc)
	if err == nil {
		c.mu.Lock()
		if e := c.defs[dom.UUID]; e != nil && e.def == def {
			e.id, e.fetched = dom.ID, fetched
		}
		c.mu.Unlock()
	}
	return def, err
}

// parse returns the definition of doc, parsing it only if it differs
// from the one the cache holds for uuid.
func (c *Cache) parse(uuid libvirt.UUID, doc string) (*Definition, error) {
	sum := sha256.Sum256([]byte(doc))
	c.mu.Lock()
	e := c.defs[uuid]
	c.mu.Unlock()
	if e != nil && e.def.sum == sum {
		return e.def, nil
	}
	d := &libvirtxml.Domain{}
	if err := d.Unmarshal(doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrParse, err)
	}
	def := &Definition{Domain: d, sum: sum}
	c.mu.Lock()
	c.defs[uuid] = &entry{def: def}
	c.mu.Unlock()
	return def, nil
}

// Recent returns the definitions of doms, all the domains there are,
// fetched within maxAge: it fetches again those fetched longer ago, those
// whose domain restarted since, and those stale says are (stale is given
// the index in doms). A domain whose XML cannot be had is left out; one
// not in doms is forgotten. The fetches fan out on libvirtconn.Each.
func (c *Cache) Recent(ctx context.Context, doms []libvirt.Domain, maxAge time.Duration, stale func(i int, def *Definition) bool) map[libvirt.UUID]*Definition {
	now := time.Now()
	type held struct {
		i   int
		def *Definition
	}
	var (
		recent []held
		again  []int // indexes of doms to fetch
	)
	listed := make(map[libvirt.UUID]bool, len(doms))
	c.mu.Lock()
	for i, d := range doms {
		listed[d.UUID] = true
		if e := c.defs[d.UUID]; e != nil && e.id == d.ID && now.Sub(e.fetched) <= maxAge {
			recent = append(recent, held{i, e.def})
		} else {
			again = append(again, i)
		}
	}
	c.mu.Unlock()
	c.Retain(func(uuid libvirt.UUID) bool { return listed[uuid] })
	out := make(map[libvirt.UUID]*Definition, len(doms))
	for _, h := range recent {
		if stale(h.i, h.def) {
			again = append(again, h.i)
		} else {
			out[doms[h.i].UUID] = h.def
		}
	}

	var mu sync.Mutex
	libvirtconn.Each(len(again), func(j int) {
		d := doms[again[j]]
		def, err := c.Get(ctx, d)
		if err != nil {
			return
		}
		mu.Lock()
		out[d.UUID] = def
		mu.Unlock()
	})
	return out
}

// Retain forgets the definitions of the domains for which exists is
// false: call it with a listing of all domains, so that the definitions
// of domains that are gone do not stay.
func (c *Cache) Retain(exists func(libvirt.UUID) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for uuid := range c.defs {
		if !exists(uuid) {
			delete(c.defs, uuid)
		}
	}
}
