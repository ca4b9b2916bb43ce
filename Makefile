# vAdvisor. `make demo` runs it on this machine with demo guests; `make test`
# runs every test against a real libvirtd (both install what they need;
# Debian, as root).

GO       ?= go
DEMO_VMS ?= 3

.PHONY: build demo test testbed bench lint

build:
	CGO_ENABLED=0 $(GO) build -o vadvisor .

# A local libvirtd with a few tiny demo guests if none runs, then vadvisor on :8181.
demo: build
	@if ! virsh -r -c qemu:///system list --all --name 2>/dev/null | grep -q .; then \
		bash scripts/testbed.sh vadv-demo $(DEMO_VMS); \
	else echo "demo: libvirtd already runs with domains; using them"; fi
	./vadvisor --web.listen-address=:8181

# Installs and starts what the tests need (libvirtd, virtlogd, guests,
# Prometheus, openssl, htpasswd), then runs every package's tests one
# package at a time: tests of different packages share one libvirtd.
test:
	TESTBED_PACKAGES="prometheus apache2-utils openssl" bash scripts/testbed.sh vadv-t 3
	$(GO) vet ./...
	$(GO) test -p 1 -race -count=1 -timeout 30m ./...

lint:
	gofmt -l . | (! grep .)
	$(GO) vet ./...
