package e2e

import (
	"debug/elf"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

// promuBuild builds vadvisor as `promu build` does, with the flags and
// ldflags of .promu.yml, with made-up revision, branch, user and date (the
// real promu build of `make release` is tested in packaging/). It returns
// the binary and the version from VERSION.
func promuBuild(t *testing.T, dir string) (binary, version string) {
	t.Helper()
	root := testbed.Root()
	v := readFile(t, filepath.Join(root, "VERSION"))
	version = strings.TrimSpace(string(v))
	if !regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$`).MatchString(version) {
		t.Fatalf("VERSION %q is not a semantic version", version)
	}
	promu := readFile(t, filepath.Join(root, ".promu.yml"))
	block := regexp.MustCompile(`(?m)^  ldflags: \|\n((?:    .*\n)+)`).FindSubmatch(promu)
	flags := regexp.MustCompile(`(?m)^  flags: (.*)$`).FindSubmatch(promu)
	if block == nil || flags == nil {
		t.Fatal(".promu.yml has no build.flags or build.ldflags block")
	}
	ldflags := strings.Join(strings.Fields(string(block[1])), " ")
	for _, r := range []struct{ template, value string }{
		{"{{.Version}}", version},
		{"{{.Revision}}", "0123abcd"},
		{"{{.Branch}}", "release-test"},
		{"{{user}}", "tester"},
		{"{{host}}", "buildhost"},
		{`{{date "20060102-15:04:05"}}`, "20261123-10:00:00"},
	} {
		if !strings.Contains(ldflags, r.template) {
			t.Errorf(".promu.yml ldflags lack %s", r.template)
		}
		ldflags = strings.ReplaceAll(ldflags, r.template, r.value)
	}
	if strings.Contains(ldflags, "{{") {
		t.Fatalf("ldflags use a template this test does not know: %s", ldflags)
	}
	binary = filepath.Join(dir, "vadvisor")
	args := append([]string{"build"}, strings.Fields(string(flags[1]))...)
	build := exec.Command("go", append(args, "-ldflags", ldflags, "-o", binary, ".")...)
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(build.Args[1:], " "), err, out)
	}
	return binary, version
}

// The release build: version stamped from VERSION and .promu.yml, a static
// binary (the Dockerfile's distroless base has no libc) that reads the host's
// libvirt through the default read-only socket, and a Dockerfile user that
// libvirtd accepts.
func TestPromPackagedBinary(t *testing.T) {
	guest := testbed.Guests(t, secGuests, 1)[0]
	release, version := promuBuild(t, t.TempDir())

	exe, err := elf.Open(release)
	if err != nil {
		t.Fatal(err)
	}
	for _, prog := range exe.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Error("the release binary is dynamically linked; the distroless/static image cannot run it")
		}
	}
	exe.Close()

	out, err := exec.Command(release, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	for _, want := range []string{
		"vadvisor, version " + version + " (branch: release-test, revision: 0123abcd)",
		"build user:       tester@buildhost", "build date:       20261123-10:00:00",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--version lacks %q:\n%s", want, out)
		}
	}

	dockerfile := readFile(t, filepath.Join(testbed.Root(), "Dockerfile"))
	user := regexp.MustCompile(`(?m)^USER (\d+):(\d+)$`).FindSubmatch(dockerfile)
	if user == nil || !regexp.MustCompile(`(?m)^EXPOSE 8181$`).Match(dockerfile) {
		t.Fatal("the Dockerfile must run as a numeric non-root USER uid:gid and EXPOSE 8181")
	}
	// libvirtd drops a peer whose uid has no user record on the host, and a
	// container without user namespaces connects with its own uid.
	if _, err := osuser.LookupId(string(user[1])); err != nil {
		t.Errorf("the Dockerfile's USER %s has no user record on this host, so libvirtd would refuse it: %v", user[1], err)
	}

	vadv := StartCmd(t, func(addr string) *exec.Cmd { return Command(release, addr) })
	var body string
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(body, `libvirt_domain_info{domain="`+guest+`"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no series for %s after 20s:\n%s", guest, body)
		}
		time.Sleep(200 * time.Millisecond)
		_, body = vadv.Get(t, "/metrics")
	}
	if !strings.Contains(body, "libvirt_up 1") {
		t.Error("libvirt_up is not 1")
	}
	info := metricLines(body, "vadvisor_build_info")
	if len(info) != 1 || !strings.Contains(info[0], `version="`+version+`"`) || !strings.Contains(info[0], `revision="0123abcd"`) || !strings.Contains(info[0], `branch="release-test"`) {
		t.Errorf("vadvisor_build_info does not carry the release's version, revision and branch: %v", info)
	}
}

// The example systemd units pass systemd's own checks, and vadvisor serves
// on a socket handed over the way vadvisor.socket does it.
func TestPromSystemdUnits(t *testing.T) {
	testbed.Guests(t, secGuests, 1)
	dir := t.TempDir()
	units := filepath.Join(testbed.Root(), "examples", "systemd")
	service := readFile(t, filepath.Join(units, "vadvisor.service"))
	socket := readFile(t, filepath.Join(units, "vadvisor.socket"))
	exec1 := regexp.MustCompile(`(?m)^ExecStart=(\S+) (.*)$`).FindSubmatch(service)
	if exec1 == nil || !strings.Contains(string(exec1[2]), "--web.systemd-socket") {
		t.Fatalf("vadvisor.service: ExecStart does not use --web.systemd-socket")
	}
	if !regexp.MustCompile(`(?m)^ListenStream=8181$`).Match(socket) {
		t.Errorf("vadvisor.socket does not listen on 8181")
	}

	// systemd-analyze verify wants the ExecStart binary to exist.
	verifyService := strings.Replace(string(service), "ExecStart="+string(exec1[1]), "ExecStart="+binary, 1)
	for name, text := range map[string]string{"vadvisor.service": verifyService, "vadvisor.socket": string(socket)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	verify := exec.Command("systemd-analyze", "verify", "--man=no", "vadvisor.socket", "vadvisor.service")
	verify.Dir = dir
	if out, err := verify.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	// Socket activation as systemd does it (LISTEN_FDS), on a free port.
	addr := testbed.FreeAddr(t)
	args := strings.Fields(strings.ReplaceAll(string(exec1[2]), "$VADVISOR_ARGS", ""))
	p := testbed.Launch(t, exec.Command("systemd-socket-activate", append([]string{"--listen=" + addr, binary}, args...)...))
	p.WaitListening(t, addr)
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "libvirt_up 1") {
		t.Errorf("socket-activated vadvisor: status %d, libvirt_up 1 missing", resp.StatusCode)
	}
	if !strings.Contains(p.Log(), "systemd activated listeners") {
		t.Errorf("vadvisor did not use the activated socket:\n%s", p.Log())
	}
}

// The Docker and Kubernetes examples mount the host's /var/run/libvirt
// read-only: connecting to the socket must still work through such a mount.
func TestPromReadOnlyMountedSocketDir(t *testing.T) {
	guest := testbed.Guests(t, secGuests, 1)[0]
	mnt := t.TempDir()
	// A private mount namespace, as a container has; exec hands SIGTERM on.
	p := StartCmd(t, func(addr string) *exec.Cmd {
		script := fmt.Sprintf(`set -e
mount --bind /var/run/libvirt %[1]s
mount -o remount,bind,ro %[1]s
if touch %[1]s/probe 2>/dev/null; then echo "mount is writable"; exit 1; fi
exec %[2]s --web.listen-address=%[3]s '--libvirt.uri=qemu:///system?socket=%[1]s/libvirt-sock-ro'`, mnt, binary, addr)
		return exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	})
	deadline := time.Now().Add(20 * time.Second)
	var body string
	for !strings.Contains(body, `libvirt_domain_info{domain="`+guest+`"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no series for %s through the read-only mount:\n%s", guest, body)
		}
		time.Sleep(200 * time.Millisecond)
		_, body = p.Get(t, "/metrics")
	}
}
