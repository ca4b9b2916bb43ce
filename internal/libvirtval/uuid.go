package libvirtval

import (
	"encoding/hex"
	"errors"

	"github.com/digitalocean/go-libvirt"
)

// UUIDString formats a domain uuid the way libvirt prints it.
func UUIDString(u libvirt.UUID) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// ParseUUID reads a uuid in libvirt's form (8-4-4-4-12 hex digits, either case).
func ParseUUID(s string) (libvirt.UUID, error) {
	var u libvirt.UUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, errors.New("a uuid has the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")
	}
	hexDigits := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	if _, err := hex.Decode(u[:], []byte(hexDigits)); err != nil {
		return u, errors.New("a uuid has only hexadecimal digits and dashes")
	}
	return u, nil
}
