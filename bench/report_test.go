package main

import "testing"

// TestReportTable: figures line up on the right, names on the left; a
// note row neither breaks the table nor a column's alignment; a "|" in a
// cell stays in its cell.
func TestReportTable(t *testing.T) {
	w := &report{}
	w.Heading(2, "Scrapes")
	w.Para("%d scrapes per subject.", 100)
	w.Table([]string{"subject", "median", "vs floor", "bytes"}, [][]string{
		{"raw bulk call", "1.20 ms", "1.00x (floor)", "-"},
		{"vadvisor /metrics", "1.50 ms", "1.25x", "83653"},
		{"peer /metrics", "skipped: not installed"},
		{"a|b", "-", "-", "12"},
	})
	w.List("Targets:", []string{target(true, "within %.1fx", 1.3), target(false, "under 1 ms")})

	want := `## Scrapes

100 scrapes per subject.

| subject | median | vs floor | bytes |
|---|---:|---:|---:|
| raw bulk call | 1.20 ms | 1.00x (floor) | - |
| vadvisor /metrics | 1.50 ms | 1.25x | 83653 |
| peer /metrics | skipped: not installed |  |  |
| a\|b | - | - | 12 |

Targets:
- MET: within 1.3x
- MISSED: under 1 ms

`
	if got := w.String(); got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}
}

// TestReportTableText: a column with a word in it is text, left-aligned,
// even where other cells begin with a number.
func TestReportTableText(t *testing.T) {
	w := &report{}
	w.Table([]string{"vadvisor", "job errors logged"}, [][]string{
		{"this tree", "none"},
		{"c2a61ff^ = c2a61ff", "3 (3 timeouts); last: timed out"},
	})
	want := `| vadvisor | job errors logged |
|---|---|
| this tree | none |
| c2a61ff^ = c2a61ff | 3 (3 timeouts); last: timed out |

`
	if got := w.String(); got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}
}
