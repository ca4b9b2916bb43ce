// Package durationflag adds duration flags whose parse error names the
// flag: kingpin's own says only "invalid duration".
package durationflag

import (
	"fmt"
	"time"

	"github.com/alecthomas/kingpin/v2"
)

// Add adds the duration flag --name to app, with its help and default.
func Add(app *kingpin.Application, name, help, def string) *time.Duration {
	d := new(time.Duration)
	app.Flag(name, help).Default(def).SetValue(namedDuration{name, d})
	return d
}

type namedDuration struct {
	name string
	d    *time.Duration
}

func (n namedDuration) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("--%s: %q is not a duration (e.g. 500ms, 3s, 1m)", n.name, s)
	}
	*n.d = d
	return nil
}

func (n namedDuration) String() string { return n.d.String() }
