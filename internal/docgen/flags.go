package docgen

import (
	"fmt"
	"strings"

	"github.com/alecthomas/kingpin/v2"
)

// Flags renders docs/flags.md from the command line's model: every flag
// --help shows, in the table section named by the flag's first word
// (web for --web.listen-address), or "other" for a flag of one word
// (--help).
func Flags(app *kingpin.ApplicationModel) ([]byte, error) {
	rows := map[string][][]string{}
	for _, f := range app.Flags {
		if f.Hidden {
			continue
		}
		section, _, dotted := strings.Cut(f.Name, ".")
		if !dotted {
			section = "other"
		}
		rows[section] = append(rows[section], []string{flagName(f), flagDefault(f), text(f.Help)})
	}
	sections := map[string]string{}
	for name, r := range rows {
		sections[name] = table([]string{"flag", "default", "meaning"}, r)
	}
	out, err := render("flags.md.tmpl", sections)
	if err != nil {
		return nil, fmt.Errorf("%w (a new kind of flag needs a section in flags.md.tmpl)", err)
	}
	return out, nil
}

// flagName is the flag as --help writes it: --[no-]name for a boolean,
// --name=PLACEHOLDER where one is set, with its short form.
func flagName(f *kingpin.FlagModel) string {
	name := "--" + f.Name
	switch {
	case f.IsBoolFlag():
		name = "--[no-]" + f.Name
	case f.PlaceHolder != "":
		name += "=" + f.PlaceHolder
	}
	if f.Short != 0 {
		return code("-"+string(f.Short)) + ", " + code(name)
	}
	return code(name)
}

func flagDefault(f *kingpin.FlagModel) string {
	var values []string
	for _, v := range f.Default {
		if v != "" {
			values = append(values, code(v))
		}
	}
	if len(values) == 0 {
		return none
	}
	return strings.Join(values, ", ")
}
