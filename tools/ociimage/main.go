// Command ociimage builds vadvisor's OCI image without a container engine,
// the way the Dockerfile describes it, and validates an OCI layout:
//
//	ociimage build --version V --revision R --licence SPDX --licence-file FILE --web-config FILE \
//	  --binary linux/amd64=PATH --binary linux/arm64=PATH \
//	  --layout DIR --archive FILE
//	ociimage validate --layout DIR
//
// build writes one image per platform, from scratch: the static binary as
// /bin/vadvisor, passwd and group entries for root and nobody, the example
// web config, the licence as /usr/share/doc/vadvisor/LICENSE, the state
// directory /var/lib/vadvisor owned by nobody and a volume; user
// 65534:65534 (nobody, see the Dockerfile for why), port 8181, OCI labels.
// An image index of them, named vadvisor:V (what podman
// load calls it, and skopeo's oci:DIR:vadvisor:V), goes into the layout
// DIR and, as an oci-archive, into FILE. Every timestamp is
// SOURCE_DATE_EPOCH, so the output is reproducible.
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

const usage = `usage:
  ociimage build --version V --revision R --licence SPDX --licence-file FILE --web-config FILE
                 --binary OS/ARCH=PATH... --layout DIR --archive FILE
  ociimage validate --layout DIR`

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "build":
		return build(args[1:])
	case "validate":
		fs := flag.NewFlagSet("validate", flag.ContinueOnError)
		dir := fs.String("layout", "", "OCI layout directory")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *dir == "" || fs.NArg() > 0 {
			return errors.New(usage)
		}
		return validateLayout(*dir)
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

// binaries is the repeatable --binary OS/ARCH=PATH flag.
type binaries map[string]string

func (b binaries) String() string { return fmt.Sprint(map[string]string(b)) }

func (b binaries) Set(s string) error {
	platform, path, ok := strings.Cut(s, "=")
	if !ok || path == "" {
		return fmt.Errorf("want OS/ARCH=PATH, got %q", s)
	}
	if _, err := v1.ParsePlatform(platform); err != nil || !strings.Contains(platform, "/") {
		return fmt.Errorf("%q is not an OS/ARCH platform", platform)
	}
	b[platform] = path
	return nil
}

type options struct {
	version, revision, licence, licenceFile, webConfig, layout, archive string
	binaries                                                            binaries
	created                                                             time.Time
}

func build(args []string) error {
	o := options{binaries: binaries{}}
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	fs.StringVar(&o.version, "version", "", "image version, also its tag in the layout (vadvisor:VERSION)")
	fs.StringVar(&o.revision, "revision", "", "source revision (git commit)")
	fs.StringVar(&o.licence, "licence", "", "SPDX licence expression")
	fs.StringVar(&o.licenceFile, "licence-file", "", "the licence's text, as /usr/share/doc/vadvisor/LICENSE")
	fs.StringVar(&o.webConfig, "web-config", "", "example web config, as /etc/vadvisor/web-config.example.yml")
	fs.StringVar(&o.layout, "layout", "", "OCI layout directory to write (must not exist)")
	fs.StringVar(&o.archive, "archive", "", "oci-archive file to write")
	fs.Var(o.binaries, "binary", "OS/ARCH=PATH of a static vadvisor binary (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, f := range []struct{ name, value string }{{"--version", o.version}, {"--revision", o.revision},
		{"--licence", o.licence}, {"--licence-file", o.licenceFile}, {"--web-config", o.webConfig}, {"--layout", o.layout}, {"--archive", o.archive}} {
		if f.value == "" {
			return fmt.Errorf("build needs %s\n%s", f.name, usage)
		}
	}
	if len(o.binaries) == 0 || fs.NArg() > 0 {
		return errors.New(usage)
	}
	epoch := os.Getenv("SOURCE_DATE_EPOCH")
	secs, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return fmt.Errorf("SOURCE_DATE_EPOCH must be seconds since 1970, not %q", epoch)
	}
	o.created = time.Unix(secs, 0).UTC()
	if _, err := os.Stat(o.layout); err == nil {
		return fmt.Errorf("layout %s already exists", o.layout)
	}

	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	platforms := make([]string, 0, len(o.binaries))
	for p := range o.binaries {
		platforms = append(platforms, p)
	}
	sort.Strings(platforms)
	for _, p := range platforms {
		platform, _ := v1.ParsePlatform(p)
		if platform.Architecture == "arm64" && platform.Variant == "" {
			platform.Variant = "v8"
		}
		img, err := image(o, *platform, o.binaries[p])
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: platform}})
	}
	lp, err := layout.Write(o.layout, empty.Index)
	if err != nil {
		return err
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "vadvisor:" + o.version})); err != nil {
		return err
	}
	return writeArchive(o.layout, o.archive, o.created)
}

// image is one platform's image: a single layer on nothing.
func image(o options, platform v1.Platform, binary string) (v1.Image, error) {
	files := []file{
		{"bin/", 0o755, nil},
		{"etc/", 0o755, nil},
		{"etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n")},
		{"etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n")},
		{"etc/vadvisor/", 0o755, nil},
		{"tmp/", 0o1777, nil},
		{"usr/", 0o755, nil},
		{"usr/share/", 0o755, nil},
		{"usr/share/doc/", 0o755, nil},
		{"usr/share/doc/vadvisor/", 0o755, nil},
		{"var/", 0o755, nil},
		{"var/lib/", 0o755, nil},
		{stateDir[1:] + "/", 0o755, nil},
	}
	for _, f := range []struct {
		src, dst string
		mode     int64
	}{{binary, "bin/vadvisor", 0o755}, {o.webConfig, "etc/vadvisor/web-config.example.yml", 0o644},
		{o.licenceFile, "usr/share/doc/vadvisor/LICENSE", 0o644}} {
		data, err := os.ReadFile(f.src)
		if err != nil {
			return nil, err
		}
		files = append(files, file{f.dst, f.mode, data})
	}
	var layerTar bytes.Buffer
	if err := writeTar(&layerTar, files, o.created); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar.Bytes())), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: o.created}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: platform.Architecture,
		Variant:      platform.Variant,
		OS:           platform.OS,
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			Entrypoint:   []string{"/bin/vadvisor"},
			User:         "65534:65534",
			ExposedPorts: map[string]struct{}{"8181/tcp": {}},
			Volumes:      map[string]struct{}{stateDir: {}},
			Env:          []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			WorkingDir:   "/",
			Labels: map[string]string{
				"org.opencontainers.image.title":       "vadvisor",
				"org.opencontainers.image.description": "libvirt VM monitoring agent: Prometheus exporter and REST API",
				"org.opencontainers.image.source":      "https://github.com/vadvisor/vadvisor",
				"org.opencontainers.image.version":     o.version,
				"org.opencontainers.image.revision":    o.revision,
				"org.opencontainers.image.licenses":    o.licence,
			},
		},
	})
	if err != nil {
		return nil, err
	}
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		Created: created, CreatedBy: "scripts/release.sh (tools/ociimage)", Comment: "vadvisor " + o.version,
	}})
	if err != nil {
		return nil, err
	}
	return mutate.CreatedAt(img, created)
}

// stateDir is --storage.path's default, owned by nobody, the image's user.
const (
	stateDir = "/var/lib/vadvisor"
	nobody   = 65534
)

type file struct {
	name string // a trailing slash makes it a directory
	mode int64
	data []byte
}

// writeTar writes files in the order given, owned by root but for the
// state directory, dated mtime.
func writeTar(w io.Writer, files []file, mtime time.Time) error {
	tw := tar.NewWriter(w)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: mtime, Format: tar.FormatPAX, Typeflag: tar.TypeReg, Size: int64(len(f.data))}
		if f.name == stateDir[1:]+"/" {
			h.Uid, h.Gid = nobody, nobody
		}
		if strings.HasSuffix(f.name, "/") {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

// writeArchive writes the layout dir as an oci-archive: a tar of the
// layout's files in name order.
func writeArchive(dir, archive string, mtime time.Time) error {
	var files []file
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			files = append(files, file{rel + "/", 0o755, nil})
			return nil
		}
		data, err := os.ReadFile(path)
		files = append(files, file{rel, 0o644, data})
		return err
	})
	if err != nil {
		return err
	}
	out, err := os.Create(archive)
	if err != nil {
		return err
	}
	if err := writeTar(out, files, mtime); err != nil {
		_ = out.Close() // the write's error is the one to tell
		return err
	}
	return out.Close()
}

// validateLayout checks every index and image the layout's index.json
// names with go-containerregistry's validate: digests, sizes, diff IDs,
// media types.
func validateLayout(dir string) error {
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return err
	}
	m, err := top.IndexManifest()
	if err != nil {
		return err
	}
	if len(m.Manifests) == 0 {
		return fmt.Errorf("%s: index.json names no image", dir)
	}
	for _, d := range m.Manifests {
		switch {
		case d.MediaType.IsIndex():
			idx, err := top.ImageIndex(d.Digest)
			if err == nil {
				err = validate.Index(idx)
			}
			if err != nil {
				return fmt.Errorf("index %s: %w", d.Digest, err)
			}
		case d.MediaType.IsImage():
			img, err := top.Image(d.Digest)
			if err == nil {
				err = validate.Image(img)
			}
			if err != nil {
				return fmt.Errorf("image %s: %w", d.Digest, err)
			}
		default:
			return fmt.Errorf("index.json names %s of media type %q", d.Digest, d.MediaType)
		}
		fmt.Printf("PASS: %s %s\n", d.MediaType, d.Digest)
	}
	return nil
}
