// Package packaging tests what `make release` builds (scripts/release.sh):
// the promu tarballs, the Debian packages and the OCI image, against the
// real dpkg, lintian, systemd tools, skopeo, umoci, podman and libvirtd.
// Tests need root; scripts/test.sh installs the tools.
package packaging

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

// guests is this package's test-guest prefix (scripts/test-guest-prefixes).
const guests = "vadv-p"

var arches = []string{"amd64", "arm64"}

// release is one build of the checkout, shared by the tests.
type release struct {
	dist, version, revision, branch string
	epoch                           int64
}

var (
	built    release
	buildErr error
	once     sync.Once
	tmpRoot  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if tmpRoot != "" {
		os.RemoveAll(tmpRoot)
	}
	os.Exit(code)
}

// build runs scripts/release.sh of the checkout once, into a directory of
// its own (dist/ is left alone), and describes what it should have built.
func build(t *testing.T) release {
	t.Helper()
	testbed.Require(t)
	once.Do(func() {
		root := testbed.Root()
		if tmpRoot, buildErr = os.MkdirTemp("", "vadvisor-release-"); buildErr != nil {
			return
		}
		r := release{dist: filepath.Join(tmpRoot, "dist")}
		if buildErr = runRelease(root, r.dist); buildErr != nil {
			return
		}
		version, err := os.ReadFile(filepath.Join(root, "VERSION"))
		if err != nil {
			buildErr = err
			return
		}
		r.version = strings.TrimSpace(string(version))
		r.revision, buildErr = git(root, "rev-parse", "HEAD")
		if buildErr == nil {
			r.branch, buildErr = git(root, "rev-parse", "--abbrev-ref", "HEAD")
		}
		var epoch string
		if buildErr == nil {
			epoch, buildErr = git(root, "log", "-1", "--format=%ct")
		}
		if buildErr == nil {
			r.epoch, buildErr = strconv.ParseInt(epoch, 10, 64)
		}
		built = r
	})
	if buildErr != nil {
		t.Fatalf("make release: %v", buildErr)
	}
	return built
}

func runRelease(root, dist string) error {
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "release.sh"))
	cmd.Env = append(os.Environ(), "DIST="+dist)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v\n%s", err, out)
	}
	return nil
}

func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Two builds of one commit are byte-identical: the second from a copy of
// the checkout at another path, with fresh file times, later.
func TestReleaseReproducible(t *testing.T) {
	r := build(t)
	root := testbed.Root()
	files, err := git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	for _, name := range strings.Split(strings.TrimSuffix(files, "\x00"), "\x00") {
		data, err := os.ReadFile(filepath.Join(root, name))
		if os.IsNotExist(err) { // deleted, not yet committed
			continue
		}
		info, statErr := os.Stat(filepath.Join(root, name))
		if err != nil || statErr != nil {
			t.Fatal(err, statErr)
		}
		if err := os.MkdirAll(filepath.Join(src, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, name), data, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	// The same repository, for the revision and the branch.
	if err := os.Symlink(filepath.Join(root, ".git"), filepath.Join(src, ".git")); err != nil {
		t.Fatal(err)
	}
	second := filepath.Join(t.TempDir(), "dist")
	if err := runRelease(src, second); err != nil {
		t.Fatalf("second make release: %v", err)
	}
	first, again := digests(t, r.dist), digests(t, second)
	if len(first) < 10 {
		t.Fatalf("the release has only %d files: %v", len(first), first)
	}
	for name, sum := range first {
		switch other, ok := again[name]; {
		case !ok:
			t.Errorf("%s: only in the first build", name)
		case other != sum:
			t.Errorf("%s differs between two builds of one commit", name)
		}
	}
	for name := range again {
		if _, ok := first[name]; !ok {
			t.Errorf("%s: only in the second build", name)
		}
	}
}

// digests maps each file under dir to its SHA-256.
func digests(t *testing.T, dir string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		sum := sha256.Sum256(data)
		rel, _ := filepath.Rel(dir, path)
		sums[rel] = hex.EncodeToString(sum[:])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

// The promu tarballs hold the binary and the documented files, and the
// binary says which version, commit, branch and date it was built from.
func TestReleaseTarballs(t *testing.T) {
	r := build(t)
	want := []string{"LICENSE", "README.md", "vadvisor", "vadvisor-dashboard.json", "vadvisor-rules.yml",
		"vadvisor.service", "vadvisor.socket", "web-config.yml"}
	sort.Strings(want)
	for _, arch := range arches {
		top := fmt.Sprintf("vadvisor-%s.linux-%s", r.version, arch)
		dir := t.TempDir()
		names := untar(t, filepath.Join(r.dist, top+".tar.gz"), dir)
		wantNames := []string{top + "/"}
		for _, w := range want {
			wantNames = append(wantNames, top+"/"+w)
		}
		if strings.Join(names, " ") != strings.Join(wantNames, " ") {
			t.Errorf("%s.tar.gz holds\n  %v\nwant\n  %v", top, names, wantNames)
		}
		sameLicence(t, top+".tar.gz", filepath.Join(dir, top, "LICENSE"))
		binary := filepath.Join(dir, top, "vadvisor")
		exe, err := elf.Open(binary)
		if err != nil {
			t.Fatal(err)
		}
		machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
		if exe.Machine != machine {
			t.Errorf("%s: the binary is for %v, not %v", top, exe.Machine, machine)
		}
		for _, p := range exe.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s: the binary is dynamically linked", top)
			}
		}
		exe.Close()
		if arch != "amd64" {
			continue // this machine runs amd64 binaries only
		}
		out, err := exec.Command(binary, "--version").CombinedOutput()
		if err != nil {
			t.Fatalf("vadvisor --version: %v\n%s", err, out)
		}
		date := time.Unix(r.epoch, 0).UTC().Format("20060102-15:04:05")
		for _, line := range []string{
			fmt.Sprintf("vadvisor, version %s (branch: %s, revision: %s)", r.version, r.branch, r.revision),
			"build date:       " + date,
		} {
			if !strings.Contains(string(out), line) {
				t.Errorf("vadvisor --version lacks %q:\n%s", line, out)
			}
		}
	}
}

// sameLicence fails unless file is the repository's LICENSE, the Apache
// License 2.0.
func sameLicence(t *testing.T, what, file string) {
	t.Helper()
	want, err := os.ReadFile(filepath.Join(testbed.Root(), "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(want, []byte("Apache License\n                           Version 2.0, January 2004")) {
		t.Fatalf("the repository's LICENSE is not the Apache License 2.0")
	}
	if got, err := os.ReadFile(file); err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s: its LICENSE is not the repository's (%v)", what, err)
	}
}

// untar unpacks a .tar.gz into dir and returns its entries' names in order.
func untar(t *testing.T, file, dir string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		names = append(names, h.Name)
		path := filepath.Join(dir, h.Name)
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(path, 0o755); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, os.FileMode(h.Mode)); err != nil {
			t.Fatal(err)
		}
	}
}

// CHANGELOG.md, in the Prometheus projects' format, has an Unreleased
// section for the changes to come and a dated section for the VERSION a
// release is built as.
func TestChangelog(t *testing.T) {
	root := testbed.Root()
	version, err := os.ReadFile(filepath.Join(root, "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(filepath.Join(root, "CHANGELOG.md"))
	if err != nil {
		t.Fatal(err)
	}
	sections := regexp.MustCompile(`(?m)^## (.*)$`).FindAllStringSubmatch(string(log), -1)
	if len(sections) == 0 || sections[0][1] != "Unreleased" {
		t.Errorf("CHANGELOG.md's first section is not ## Unreleased: %v", sections)
	}
	heading := regexp.MustCompile(`^` + regexp.QuoteMeta(strings.TrimSpace(string(version))) + ` / \d{4}-\d{2}-\d{2}$`)
	found := false
	for _, s := range sections {
		found = found || heading.MatchString(s[1])
	}
	if !found {
		t.Errorf("CHANGELOG.md has no section ## %s / YYYY-MM-DD for the VERSION", strings.TrimSpace(string(version)))
	}
	for _, line := range strings.Split(string(log), "\n") {
		if strings.HasPrefix(line, "* ") && !regexp.MustCompile(`^\* \[(CHANGE|FEATURE|ENHANCEMENT|BUGFIX|SECURITY)\] `).MatchString(line) {
			t.Errorf("CHANGELOG.md: %q lacks a [CHANGE], [FEATURE], [ENHANCEMENT] or [BUGFIX] tag", line)
		}
	}
}
