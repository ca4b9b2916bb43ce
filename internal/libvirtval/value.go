// Package libvirtval holds libvirt's values as vAdvisor reads them: domain
// uuids in libvirt's text form, and typed parameters, the form of most
// answers, as Values.
package libvirtval

import (
	"math"

	"github.com/digitalocean/go-libvirt"
)

// Value is a figure that libvirt may or may not have given: one it did
// not give must never be exported as 0.
type Value struct {
	V  uint64
	OK bool
}

// Number converts libvirt's numeric typed values; negative and non-numeric
// values count as absent, as no statistic here can be negative.
func Number(v libvirt.TypedParamValue) Value {
	switch x := v.I.(type) {
	case int32:
		if x >= 0 {
			return Value{uint64(x), true}
		}
	case uint32:
		return Value{uint64(x), true}
	case int64:
		if x >= 0 {
			return Value{uint64(x), true}
		}
	case uint64:
		return Value{x, true}
	case float64:
		if x >= 0 && x <= math.MaxUint64 {
			return Value{uint64(x), true}
		}
	}
	return Value{}
}

// Text is a typed value's string, or "" for another type.
func Text(v libvirt.TypedParamValue) string {
	s, _ := v.I.(string)
	return s
}

// Param finds a numeric typed parameter by name, as the calls other
// than the bulk one answer (job and CPU statistics).
func Param(params []libvirt.TypedParam, field string) Value {
	for _, p := range params {
		if p.Field == field {
			return Number(p.Value)
		}
	}
	return Value{}
}
