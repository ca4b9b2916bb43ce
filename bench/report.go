package main

import (
	"fmt"
	"strings"
)

// report is the benchmark's Markdown output. Every part writes its section
// through one, so that headings, paragraphs, lists and tables look the same
// in all of them; main prints it once every part has run.
type report struct{ b strings.Builder }

func (w *report) String() string { return w.b.String() }

// Heading writes a heading of the given level: 1 for the report's title,
// 2 for a part, 3 within a part.
func (w *report) Heading(level int, title string) {
	fmt.Fprintf(&w.b, "%s %s\n\n", strings.Repeat("#", level), title)
}

// Para writes a paragraph.
func (w *report) Para(format string, args ...any) {
	fmt.Fprintf(&w.b, format, args...)
	w.b.WriteString("\n\n")
}

// List writes a bulleted list, after its lead-in line ("Targets:") if
// there is one.
func (w *report) List(lead string, items []string) {
	if lead != "" {
		w.b.WriteString(lead + "\n")
	}
	for _, item := range items {
		fmt.Fprintf(&w.b, "- %s\n", item)
	}
	w.b.WriteString("\n")
}

// Table writes a table. A row shorter than the header is a note, such as
// "skipped: why" after a subject's name: it is padded with empty cells.
// A column whose cells all begin with a number ("0.44 ms", "1.20x",
// "17/20") is right-aligned, so that figures line up; empty and "-" cells,
// and the cells of notes, do not count against it.
func (w *report) Table(header []string, rows [][]string) {
	w.row(header)
	w.b.WriteString("|")
	for i := range header {
		if numericColumn(rows, i, len(header)) {
			w.b.WriteString("---:|")
		} else {
			w.b.WriteString("---|")
		}
	}
	w.b.WriteString("\n")
	for _, r := range rows {
		cells := make([]string, len(header))
		copy(cells, r)
		w.row(cells)
	}
	w.b.WriteString("\n")
}

// row writes one table row. A cell's "|" or line break would end it early.
func (w *report) row(cells []string) {
	w.b.WriteString("|")
	for _, c := range cells {
		c = strings.ReplaceAll(c, "|", `\|`)
		c = strings.ReplaceAll(c, "\n", " ")
		w.b.WriteString(" " + c + " |")
	}
	w.b.WriteString("\n")
}

func numericColumn(rows [][]string, col, width int) bool {
	numbers := 0
	for _, r := range rows {
		if len(r) < width || r[col] == "" || r[col] == "-" {
			continue
		}
		c := strings.TrimPrefix(r[col], "-")
		if c == "" || c[0] < '0' || c[0] > '9' {
			return false
		}
		numbers++
	}
	return numbers > 0
}

// target is a line of a part's list of targets: whether it was met, and
// what it was with the figure measured.
func target(met bool, format string, args ...any) string {
	mark := "MET"
	if !met {
		mark = "MISSED"
	}
	return mark + ": " + fmt.Sprintf(format, args...)
}
