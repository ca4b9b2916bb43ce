# vAdvisor. `make demo` runs it on this machine with demo guests; `make test`
# runs every test against a real libvirtd (both install what they need;
# Debian, as root). `make test-unit` runs the tests that need neither
# libvirtd nor root, as any user.

GO          ?= go
DEMO_VMS    ?= 3
DEMO_OS_VMS ?= 2

.PHONY: build demo test test-unit bench lint release

# The version stamp: .promu.yml's ldflags, filled in by scripts/ldflags.sh.
build:
	CGO_ENABLED=0 $(GO) build -ldflags "$$(bash scripts/ldflags.sh)" -o vadvisor .

# dist/: promu tarballs, .deb packages and an OCI image (layout and
# oci-archive) for linux/amd64 and linux/arm64, reproducibly, with the
# pinned tools of tools/go.mod: see scripts/release.sh.
release:
	GO="$(GO)" bash scripts/release.sh

# A local libvirtd with a few tiny demo guests (no OS) and two with a real OS
# (scripts/linux-guest.sh), unless libvirt has domains of its own; then
# vadvisor on :8181.
demo: build
	@if ! virsh -r -c qemu:///system list --all --name 2>/dev/null | grep -v '^vadv-demo' | grep -q .; then \
		bash scripts/testbed.sh vadv-demo $(DEMO_VMS) && \
		bash scripts/testbed.sh --linux vadv-demo-os $(DEMO_OS_VMS); \
	else echo "demo: libvirtd already runs with domains; using them"; fi
	./vadvisor --web.listen-address=:8181

# Lints first, then installs and starts what the tests need (libvirtd,
# virtlogd, D-Bus and polkit, guests, Prometheus, openssl, htpasswd,
# lintian, skopeo, umoci, podman), then runs every package's tests one
# package at a time (tests of different packages share one libvirtd), the
# fuzz targets and the soak. Pass or fail, it ends by stopping the test
# guests (their definitions and images stay): see scripts/test.sh.
test: lint
	GO="$(GO)" bash scripts/test.sh

# The unit lane: go test -short, in which every test that needs the test
# bed (libvirtd, guests, root, the tools make test installs) skips, by
# testbed.Require. Installs nothing; runs as any user, libvirtd stopped.
test-unit:
	$(GO) test -short -count=1 ./...

# Scrape, sampler and API figures for vadvisor, the Debian exporter and the
# raw libvirt calls on 30 real guests and 1000 test-driver domains.
bench:
	$(GO) run ./bench $(BENCH_ARGS)

# golangci-lint, pinned in tools/go.mod, with .golangci.yml (gofmt and
# go vet among its checks), on the module and on tools/.
lint:
	$(GO) tool -modfile=tools/go.mod golangci-lint run ./...
	$(GO) -C tools tool golangci-lint run ./...
