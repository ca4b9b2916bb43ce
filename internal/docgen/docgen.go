// Package docgen renders the reference pages docs/metrics.md and
// docs/flags.md from the code, so that they cannot drift from it: the
// families the collector declares and its sub-collectors, the families
// vAdvisor's own collectors describe, and kingpin's model of the command
// line. The prose around the tables is in metrics.md.tmpl and
// flags.md.tmpl, plain markdown with one {{table "name"}} for each table
// section; every family and every flag must land in one of them.
package docgen

import (
	"bytes"
	"embed"
	"fmt"
	"slices"
	"strings"
	"text/template"
)

//go:embed metrics.md.tmpl flags.md.tmpl
var templates embed.FS

// render executes the template file with {{table "name"}} giving
// sections[name], and fails unless it used each section once.
func render(file string, sections map[string]string) ([]byte, error) {
	used := map[string]int{}
	t, err := template.New(file).Funcs(template.FuncMap{
		"table": func(name string) (string, error) {
			s, ok := sections[name]
			if !ok {
				return "", fmt.Errorf("no table section %q", name)
			}
			used[name]++
			return s, nil
		},
	}).ParseFS(templates, file)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, nil); err != nil {
		return nil, err
	}
	for name := range sections {
		if used[name] != 1 {
			return nil, fmt.Errorf("%s: the table section %q is used %d times, want once", file, name, used[name])
		}
	}
	return b.Bytes(), nil
}

// table is a markdown table; its cells are already markdown.
func table(header []string, rows [][]string) string {
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	line(header)
	line(slices.Repeat([]string{"---"}, len(header)))
	for _, r := range rows {
		line(r)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// text escapes s for a table cell: a pipe would end the cell, and angle
// brackets would pass for HTML.
func text(s string) string {
	return strings.NewReplacer(`|`, `\|`, `<`, `\<`, `>`, `\>`).Replace(s)
}

// code is s as inline code.
func code(s string) string { return "`" + s + "`" }

// none is an empty cell.
const none = "–"
