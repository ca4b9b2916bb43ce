// Package domxml reads domain definitions, libvirt's domain XML, for the
// collector and the REST API, and parses each definition once: a cache by
// domain uuid, refreshed when the XML changes.
package domxml

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

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
}

// Cache holds the parsed definition of each domain it was asked for.
type Cache struct {
	conn *libvirtconn.Conn
	mu   sync.Mutex
	defs map[libvirt.UUID]*Definition
}

// New reads definitions over conn.
func New(conn *libvirtconn.Conn) *Cache {
	return &Cache{conn: conn, defs: map[libvirt.UUID]*Definition{}}
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
	return c.parse(dom.UUID, doc)
}

// parse returns the definition of doc, parsing it only if it differs
// from the one the cache holds for uuid.
func (c *Cache) parse(uuid libvirt.UUID, doc string) (*Definition, error) {
	sum := sha256.Sum256([]byte(doc))
	c.mu.Lock()
	def := c.defs[uuid]
	c.mu.Unlock()
	if def != nil && def.sum == sum {
		return def, nil
	}
	d := &libvirtxml.Domain{}
	if err := d.Unmarshal(doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrParse, err)
	}
	def = &Definition{Domain: d, sum: sum}
	c.mu.Lock()
	c.defs[uuid] = def
	c.mu.Unlock()
	return def, nil
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
