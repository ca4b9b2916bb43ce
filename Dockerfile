# vadvisor in a container: a static binary (CGO_ENABLED=0, go-libvirt is
# pure Go) on a distroless base, running as a non-root user.
#
#   docker build -t vadvisor --build-arg VERSION=$(cat VERSION) \
#     --build-arg REVISION=$(git rev-parse HEAD) .
#   docker run --detach --name vadvisor --publish 8181:8181 \
#     --volume /var/run/libvirt:/var/run/libvirt:ro vadvisor
#
# It runs as nobody (65534), not as distroless' "nonroot" (65532): libvirtd
# looks up the connecting uid in the *host's* user database and drops the
# connection when there is no such user ("Failed to find user record for
# uid"), and every host has nobody. Non-root is enough because vadvisor only
# uses libvirt's read-only socket, libvirt-sock-ro, which libvirtd creates
# world-connectable (unix_sock_ro_perms 0777) and which polkit, where used,
# opens to any user for monitoring. A read-write socket needs --user 0 or
# the host's libvirt group.
# Mount the socket's directory rather than the socket file: libvirtd
# recreates the socket when it restarts, and a bind-mounted file would keep
# pointing at the old one. A read-only mount still allows connecting to the
# socket. Modular daemons (virtqemud) need
# --libvirt.uri='qemu:///system?socket=/var/run/libvirt/virtqemud-sock-ro'.
# On SELinux hosts (RHEL, CentOS, Fedora) add --security-opt label=disable
# (or --privileged) so the container may connect to the host's socket.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Passed by CI, e.g. --build-arg REVISION=$(git rev-parse HEAD); .git is
# not needed in the build context. The ldflags are .promu.yml's, filled in
# by scripts/ldflags.sh.
ARG REVISION=unknown
ARG BRANCH=unknown
RUN CGO_ENABLED=0 go build -trimpath -tags netgo -o /out/vadvisor \
      -ldflags "$(REVISION=${REVISION} BRANCH=${BRANCH} BUILD_USER=docker bash scripts/ldflags.sh)" . \
    && mkdir -m 0755 /out/state

FROM gcr.io/distroless/static-debian12:nonroot
# `make release` builds the same image without Docker (scripts/release.sh,
# tools/ociimage); packaging/oci_test.go keeps the entrypoint, user, port
# and labels of the two equal. VERSION: the content of the VERSION file.
ARG VERSION=unknown
ARG REVISION=unknown
LABEL org.opencontainers.image.title="vadvisor" \
      org.opencontainers.image.description="libvirt VM monitoring agent: Prometheus exporter and REST API" \
      org.opencontainers.image.source="https://github.com/vadvisor/vadvisor" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/vadvisor /bin/vadvisor
COPY examples/web-config/web-config.yml /etc/vadvisor/web-config.example.yml
COPY LICENSE /usr/share/doc/vadvisor/LICENSE
# --storage.path's default, where the history and the events are kept
# across restarts: a volume, so that a new container of a new image keeps
# them (--volume vadvisor-state:/var/lib/vadvisor). The state file names
# the host it was written on: mount the host's /etc/machine-id too
# (--volume /etc/machine-id:/etc/machine-id:ro), or a new container, with
# a new host name, ignores it.
COPY --from=build --chown=65534:65534 /out/state /var/lib/vadvisor
VOLUME /var/lib/vadvisor
EXPOSE 8181
# nobody: see above.
USER 65534:65534
ENTRYPOINT ["/bin/vadvisor"]
