package packaging

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

// imageConfig is the part of an OCI image config the tests look at.
type imageConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		User         string              `json:"User"`
		Entrypoint   []string            `json:"Entrypoint"`
		ExposedPorts map[string]struct{} `json:"ExposedPorts"`
		Volumes      map[string]struct{} `json:"Volumes"`
		Labels       map[string]string   `json:"Labels"`
	} `json:"config"`
}

// layoutRef is the release's image index in its OCI layout, for skopeo.
func layoutRef(r release) string {
	return fmt.Sprintf("oci:%s:vadvisor:%s", filepath.Join(r.dist, "vadvisor-"+r.version+".oci"), r.version)
}

func archiveRef(r release) string {
	return fmt.Sprintf("oci-archive:%s:vadvisor:%s", filepath.Join(r.dist, "vadvisor-"+r.version+".oci.tar"), r.version)
}

// config reads the image config of one architecture with skopeo.
func config(t *testing.T, ref, arch string) imageConfig {
	t.Helper()
	var c imageConfig
	out := run(t, "skopeo", "inspect", "--config", "--override-os", "linux", "--override-arch", arch, ref)
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("skopeo inspect --config: %v\n%s", err, out)
	}
	return c
}

// The layout is valid (go-containerregistry's validate), its index names
// an amd64 and an arm64 image, and both carry the release's labels.
func TestOCIImageLayout(t *testing.T) {
	r := build(t)
	validate := exec.Command("go", "-C", filepath.Join(testbed.Root(), "tools"), "tool", "ociimage", "validate", "--layout", filepath.Join(r.dist, "vadvisor-"+r.version+".oci"))
	if out, err := validate.CombinedOutput(); err != nil || !strings.Contains(string(out), "PASS") {
		t.Errorf("ociimage validate: %v\n%s", err, out)
	}
	var index struct {
		MediaType string `json:"mediaType"`
		Manifests []struct {
			Platform struct{ OS, Architecture string }
		} `json:"manifests"`
	}
	for _, ref := range []string{layoutRef(r), archiveRef(r)} {
		out := run(t, "skopeo", "inspect", "--raw", ref)
		if err := json.Unmarshal([]byte(out), &index); err != nil {
			t.Fatalf("skopeo inspect --raw %s: %v\n%s", ref, err, out)
		}
		var platforms []string
		for _, m := range index.Manifests {
			platforms = append(platforms, m.Platform.OS+"/"+m.Platform.Architecture)
		}
		if index.MediaType != "application/vnd.oci.image.index.v1+json" || strings.Join(platforms, " ") != "linux/amd64 linux/arm64" {
			t.Errorf("%s: %s for %v, want an OCI image index for linux/amd64 linux/arm64", ref, index.MediaType, platforms)
		}
	}
	for _, arch := range arches {
		c := config(t, archiveRef(r), arch)
		if c.Architecture != arch || c.OS != "linux" {
			t.Errorf("%s image: config for %s/%s", arch, c.OS, c.Architecture)
		}
		for label, want := range map[string]string{
			"org.opencontainers.image.source":   "https://github.com/vadvisor/vadvisor",
			"org.opencontainers.image.version":  r.version,
			"org.opencontainers.image.revision": r.revision,
			"org.opencontainers.image.licenses": "Apache-2.0",
		} {
			if got := c.Config.Labels[label]; got != want {
				t.Errorf("%s image: label %s is %q, want %q", arch, label, got, want)
			}
		}
	}
}

// The amd64 root file system, unpacked by umoci, runs as the image says
// (entrypoint, user) in a root of its own that sees the host's libvirt
// socket directory only through a read-only bind mount, as the README's
// install line gives it to a container, serves the real guests, and saves
// its state in the image's /var/lib/vadvisor on SIGTERM.
func TestOCIImageRuns(t *testing.T) {
	r := build(t)
	guest := startGuest(t)
	dir := t.TempDir()
	run(t, "skopeo", "copy", "--quiet", "--override-os", "linux", "--override-arch", "amd64", archiveRef(r), "oci:"+filepath.Join(dir, "amd64")+":amd64")
	run(t, "umoci", "unpack", "--image", filepath.Join(dir, "amd64")+":amd64", filepath.Join(dir, "bundle"))
	rootfs := filepath.Join(dir, "bundle", "rootfs")
	sameLicence(t, "the image", filepath.Join(rootfs, "usr", "share", "doc", "vadvisor", "LICENSE"))
	c := config(t, archiveRef(r), "amd64")
	if len(c.Config.Entrypoint) == 0 || c.Config.User == "" {
		t.Fatalf("the image has no entrypoint or user: %+v", c.Config)
	}
	if err := os.MkdirAll(filepath.Join(rootfs, "var", "run", "libvirt"), 0o755); err != nil {
		t.Fatal(err)
	}
	addr := testbed.FreeAddr(t)
	script := `set -e
mount --bind /var/run/libvirt "$1/var/run/libvirt"
mount -o remount,bind,ro "$1/var/run/libvirt"
shift
exec "$@"`
	args := append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "sh", rootfs,
		"chroot", "--userspec=" + c.Config.User, rootfs}, c.Config.Entrypoint...)
	p := testbed.Launch(t, exec.Command("unshare", append(args, "--web.listen-address="+addr)...))
	scrapeGuest(t, addr, guest)
	p.Stop(t)
	saved := filepath.Join(rootfs, stateDir, "events.vadv")
	if owner := ownerOf(t, saved); owner != strings.Split(c.Config.User, ":")[0] {
		t.Errorf("%s is owned by uid %s, not the image's user %s:\n%s", saved, owner, c.Config.User, p.Log())
	}
}

// podman loads the oci-archive and runs it on the host network with the
// socket directory mounted read-only, as the README's install line does;
// the image's volume lets its user keep state.
func TestOCIImagePodman(t *testing.T) {
	r := build(t)
	guest := startGuest(t)
	out := run(t, "podman", "load", "--quiet", "--input", filepath.Join(r.dist, "vadvisor-"+r.version+".oci.tar"))
	image := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), "Loaded image:"))
	if image != "localhost/vadvisor:"+r.version {
		t.Errorf("podman load named the image %q, want localhost/vadvisor:%s", image, r.version)
	}
	t.Cleanup(func() { exec.Command("podman", "rmi", "--force", image).Run() })
	addr := testbed.FreeAddr(t)
	name := "vadvisor-packaging-test"
	_ = exec.Command("podman", "rm", "--force", name).Run()
	t.Cleanup(func() { exec.Command("podman", "rm", "--force", name).Run() })
	args := append([]string{"--runtime", "runc", "run", "--rm", "--name", name, "--network=host",
		"--volume", "/var/run/libvirt:/var/run/libvirt:ro"}, ulimits(t)...)
	p := testbed.Launch(t, exec.Command("podman", append(args, image, "--web.listen-address="+addr)...))
	scrapeGuest(t, addr, guest)
	if !strings.Contains(p.Log(), "keeping the state across restarts") {
		t.Errorf("the container cannot keep state in its volume:\n%s", p.Log())
	}
}

// ulimits keeps the container's limits within this process's hard limits:
// podman asks the runtime for more by default, which fails without
// CAP_SYS_RESOURCE (docs/development.md, Packaging notes). podman lowers its own hard
// process limit to 32768 before it starts the runtime.
func ulimits(t *testing.T) []string {
	t.Helper()
	var nofile, nproc syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Getrlimit(6 /* RLIMIT_NPROC */, &nproc); err != nil {
		t.Fatal(err)
	}
	n := min(nproc.Max, 32768)
	return []string{"--ulimit", fmt.Sprintf("nofile=%d:%d", nofile.Max, nofile.Max), "--ulimit", fmt.Sprintf("nproc=%d:%d", n, n)}
}

// The Dockerfile builds the same image as make release: same entrypoint,
// user, port, volume and labels (the Dockerfile's ARGs set as the release
// sets them).
func TestDockerfileMatchesImage(t *testing.T) {
	r := build(t)
	data, err := os.ReadFile(filepath.Join(testbed.Root(), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	final := text[strings.LastIndex(text, "\nFROM "):]
	args := map[string]string{"VERSION": r.version, "REVISION": r.revision}
	one := func(instr string) string {
		m := regexp.MustCompile(`(?m)^`+instr+` (.*)$`).FindAllStringSubmatch(final, -1)
		if len(m) != 1 {
			t.Fatalf("the Dockerfile's final stage has %d %s lines, want 1", len(m), instr)
		}
		return strings.TrimSpace(m[0][1])
	}
	var entrypoint []string
	if err := json.Unmarshal([]byte(one("ENTRYPOINT")), &entrypoint); err != nil {
		t.Fatalf("ENTRYPOINT is not in JSON form: %v", err)
	}
	labels := map[string]string{}
	for _, m := range regexp.MustCompile(`([\w.-]+)="([^"]*)"`).FindAllStringSubmatch(one("LABEL"), -1) {
		labels[m[1]] = os.Expand(m[2], func(arg string) string { return args[arg] })
	}
	c := config(t, archiveRef(r), "amd64")
	ports := make([]string, 0, len(c.Config.ExposedPorts))
	for p := range c.Config.ExposedPorts {
		ports = append(ports, p)
	}
	for what, pair := range map[string][2]string{
		"entrypoint": {fmt.Sprint(entrypoint), fmt.Sprint(c.Config.Entrypoint)},
		"user":       {one("USER"), c.Config.User},
		"port":       {one("EXPOSE") + "/tcp", strings.Join(ports, " ")},
		"volume":     {one("VOLUME"), strings.Join(slices.Collect(maps.Keys(c.Config.Volumes)), " ")},
		"labels":     {fmt.Sprint(labels), fmt.Sprint(c.Config.Labels)},
	} {
		if pair[0] != pair[1] {
			t.Errorf("%s: the Dockerfile's %s, the release image's %s", what, pair[0], pair[1])
		}
	}
	if _, err := strconv.Atoi(strings.Split(c.Config.User, ":")[0]); err != nil {
		t.Errorf("the image's user %q is not numeric: a runtime could not check it is not root", c.Config.User)
	}
}
