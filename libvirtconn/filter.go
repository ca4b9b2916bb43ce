package libvirtconn

import (
	"fmt"
	"regexp"
)

// Filter selects the domains vAdvisor watches, by name: those the include
// expression matches and the exclude expression does not, each matched
// against the whole name. A nil Filter watches every domain.
type Filter struct {
	include, exclude *regexp.Regexp
}

// NewFilter compiles the expressions (RE2) of the flags named
// includeFlag and excludeFlag; an empty expression is no condition. It
// returns nil when both are empty. An error names the flag.
func NewFilter(includeFlag, include, excludeFlag, exclude string) (*Filter, error) {
	if include == "" && exclude == "" {
		return nil, nil
	}
	f := &Filter{}
	var err error
	if f.include, err = whole(includeFlag, include); err != nil {
		return nil, err
	}
	if f.exclude, err = whole(excludeFlag, exclude); err != nil {
		return nil, err
	}
	return f, nil
}

// whole compiles expr anchored at both ends, or nil for an empty one.
func whole(flag, expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	if _, err := regexp.Compile(expr); err != nil { // the error quotes expr as given
		return nil, fmt.Errorf("--%s: %q is not a valid regular expression: %v", flag, expr, err)
	}
	return regexp.Compile(`^(?:` + expr + `)$`)
}

// Watched reports whether the domain named name is watched.
func (f *Filter) Watched(name string) bool {
	if f == nil {
		return true
	}
	if f.include != nil && !f.include.MatchString(name) {
		return false
	}
	return f.exclude == nil || !f.exclude.MatchString(name)
}
