#!/usr/bin/env bash
# `make release`: builds into dist/ (or $DIST), for linux/amd64 and
# linux/arm64,
#   vadvisor-<v>.linux-<arch>.tar.gz   promu build + promu tarball
#   vadvisor_<v>_<arch>.deb            nfpm, packaging/deb/nfpm.yaml
#   vadvisor-<v>.oci/                  OCI layout, one index for both arches
#   vadvisor-<v>.oci.tar               the same as an oci-archive
#   SHA256SUMS
# with the build tools of tools/go.mod (go tool, pinned; nothing to install),
# offline once the modules are downloaded. Reproducible: every timestamp is
# SOURCE_DATE_EPOCH (default: the commit's time), so two builds of one commit
# are byte-identical (packaging/release_test.go checks it).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
dist=${DIST:-dist}
arches="amd64 arm64"
# The licence's SPDX identifier (LICENSE holds its text); the Dockerfile's
# org.opencontainers.image.licenses label must say the same.
licence=Apache-2.0

die() { echo "release: $*" >&2; exit 1; }
tool() { "$GO" tool -modfile=tools/go.mod "$@"; }

git rev-parse --verify -q HEAD >/dev/null || die "needs a git checkout with a commit (the revision and the date come from it)"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
[[ $SOURCE_DATE_EPOCH =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH must be seconds since 1970, not \"$SOURCE_DATE_EPOCH\""
version=$(tr -d '[:space:]' <VERSION)
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]] || die "VERSION \"$version\" is not a semantic version"
revision=$(git rev-parse HEAD)
hostarch=$("$GO" env GOHOSTARCH)
[[ " $arches " == *" $hostarch "* ]] || die "the man page comes from running the binary: build on one of $arches, not $hostarch"
case $dist in /*) ;; *) dist=$PWD/$dist ;; esac

export TZ=UTC LC_ALL=C
# The revision is stamped by the ldflags; Go's own VCS stamp would also
# record whether the tree is dirty, which dist/ itself can make it.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false"
# promu tarball runs `tar zcf`: fixed order, times and owners; gzip stores no
# name or time for a pipe.
export TAR_OPTIONS="--sort=name --mtime=@$SOURCE_DATE_EPOCH --owner=0 --group=0 --numeric-owner --mode=go-w --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime"
umask 022

rm -rf "$dist"
stage=$dist/.stage
mkdir -p "$stage"
trap 'rm -rf "$stage"' EXIT

[ -f LICENSE ] || die "no LICENSE file: the tarballs, the .deb and the image carry it"

# promu takes the target from GOOS/GOARCH, which would also make go tool
# build promu itself for that target: go tool -n builds it for this host
# and names the binary. promu names the tarball after the repository of the
# git remote; the checkout's remote may be a fork, a mirror or none.
promu=$(GOOS= GOARCH= "$GO" tool -modfile=tools/go.mod -n promu)
repo_url=https://$(sed -n 's/^  path: //p' .promu.yml)
branch=$(git rev-parse --abbrev-ref HEAD)
for arch in $arches; do
  echo "release: linux/$arch: promu build, promu tarball"
  for cmd in "build --prefix=$stage/linux-$arch" "tarball --prefix=$dist $stage/linux-$arch"; do
    # shellcheck disable=SC2086 # the words of cmd
    GOOS=linux GOARCH=$arch GIT_CONFIG_COUNT=2 \
      GIT_CONFIG_KEY_0="branch.$branch.remote" GIT_CONFIG_VALUE_0=release \
      GIT_CONFIG_KEY_1=remote.release.url GIT_CONFIG_VALUE_1="$repo_url" \
      "$promu" --config=.promu.yml $cmd
  done
done

# The Debian package's generated files: units that start /usr/bin/vadvisor,
# kingpin's man page with a proper title and NAME line, changelog, copyright.
date_rfc2822=$(date -u -d "@$SOURCE_DATE_EPOCH" -R)
date_man=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
sed 's|^ExecStart=/usr/local/bin/vadvisor |ExecStart=/usr/bin/vadvisor |' examples/systemd/vadvisor.service >"$stage/vadvisor.service"
grep -q '^ExecStart=/usr/bin/vadvisor ' "$stage/vadvisor.service" || die "examples/systemd/vadvisor.service: ExecStart is not /usr/local/bin/vadvisor ..."
cp examples/systemd/vadvisor.socket "$stage/"
"$stage/linux-$hostarch/vadvisor" --help-man | awk -v th=".TH VADVISOR 1 \"$date_man\" \"vadvisor $version\" \"vAdvisor\"" '
  /^\.SH "NAME"$/ { print th; print; getline; print "vadvisor \\- libvirt VM monitoring agent: Prometheus exporter and REST API"; on = 1; next }
  on' | gzip -9n >"$stage/vadvisor.1.gz"
printf 'vadvisor (%s) unstable; urgency=medium\n\n  * Release %s, built from commit %s.\n\n -- %s  %s\n' \
  "$version" "$version" "$revision" "$(sed -n 's/^maintainer: //p' packaging/deb/nfpm.yaml)" "$date_rfc2822" | gzip -9n >"$stage/changelog.gz"
{
  echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
  echo "Upstream-Name: vadvisor"
  echo "Source: https://github.com/vadvisor/vadvisor"
  echo
  echo "Files: *"
  echo "Copyright: $(date -u -d "@$SOURCE_DATE_EPOCH" +%Y) the vAdvisor authors"
  echo "License: $licence"
  echo
  echo "License: $licence"
  echo " Licensed under the Apache License, Version 2.0 (the \"License\"); you may"
  echo " not use this file except in compliance with the License."
  echo " ."
  echo " Unless required by applicable law or agreed to in writing, software"
  echo " distributed under the License is distributed on an \"AS IS\" BASIS,"
  echo " WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied."
  echo " See the License for the specific language governing permissions and"
  echo " limitations under the License."
  echo " ."
  echo " On Debian systems, the full text of the Apache License, Version 2.0 is in"
  echo " /usr/share/common-licenses/Apache-2.0."
} >"$stage/copyright"

for arch in $arches; do
  echo "release: linux/$arch: nfpm deb"
  cp "$stage/linux-$arch/vadvisor" "$stage/vadvisor"
  ARCH=$arch VERSION=$version STAGE=$stage tool nfpm package --config packaging/deb/nfpm.yaml --packager deb --target "$dist/vadvisor_${version}_$arch.deb"
done

echo "release: OCI image (layout and oci-archive)"
# ociimage is tools/'s own package: go tool finds it only from there.
"$GO" -C tools tool ociimage build --version "$version" --revision "$revision" --licence "$licence" \
  --web-config "$PWD/examples/web-config/web-config.yml" --licence-file "$PWD/LICENSE" \
  --binary "linux/amd64=$stage/linux-amd64/vadvisor" --binary "linux/arm64=$stage/linux-arm64/vadvisor" \
  --layout "$dist/vadvisor-$version.oci" --archive "$dist/vadvisor-$version.oci.tar"

# go-containerregistry writes the layout's files executable.
find "$dist/vadvisor-$version.oci" -type f -exec chmod 0644 {} +
rm -rf "$stage"
(cd "$dist" && find . -type f ! -name SHA256SUMS | LC_ALL=C sort | sed 's|^\./||' | xargs sha256sum >SHA256SUMS)
echo "release: done: $dist"
