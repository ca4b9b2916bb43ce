package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	mdLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdFence   = regexp.MustCompile("(?s)```.*?```")
	mdHeading = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	slugDrop  = regexp.MustCompile(`[^\p{L}\p{N}_\- ]`)
	linkText  = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
)

// anchors are the heading anchors of a Markdown page, as GitHub makes
// them: lower case, punctuation dropped, spaces as hyphens, -1, -2 for
// repeats.
func anchors(text string) map[string]bool {
	out, seen := map[string]bool{}, map[string]int{}
	for _, line := range strings.Split(mdFence.ReplaceAllString(text, ""), "\n") {
		m := mdHeading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		h := linkText.ReplaceAllString(strings.ToLower(m[1]), "$1")
		s := strings.ReplaceAll(slugDrop.ReplaceAllString(h, ""), " ", "-")
		if n := seen[s]; n > 0 {
			out[s+"-"+string(rune('0'+n))] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

// The README is a front door: at most 300 lines, and every relative link
// of it and of docs/ leads to a file and heading that exist.
func TestDocsLinks(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(readme), "\n"); n > 300 {
		t.Errorf("README.md has %d lines, want at most 300: the rest belongs in docs/", n)
	}
	pages, _ := filepath.Glob("docs/*.md")
	pages = append(pages, "README.md", "CHANGELOG.md")
	for _, page := range pages {
		text, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mdLink.FindAllStringSubmatch(mdFence.ReplaceAllString(string(text), ""), -1) {
			link := m[1]
			if regexp.MustCompile(`^[a-z]+:`).MatchString(link) {
				continue // another site
			}
			path, frag, _ := strings.Cut(link, "#")
			target := page
			if path != "" {
				target = filepath.Join(filepath.Dir(page), path)
			}
			data, err := os.ReadFile(target)
			if err != nil {
				if _, statErr := os.Stat(target); statErr != nil {
					t.Errorf("%s: %s leads to no file", page, link)
				}
				continue // a directory
			}
			if frag != "" && !anchors(string(data))[frag] {
				t.Errorf("%s: %s leads to no heading of %s", page, link, target)
			}
		}
	}
}
