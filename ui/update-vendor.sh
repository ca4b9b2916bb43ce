#!/usr/bin/env bash
# Updates the vendored uPlot chart library in ui/assets/vendor/uplot from
# the npm registry, so that `go build .` never needs npm or the network.
#   ui/update-vendor.sh          # the latest release
#   ui/update-vendor.sh 1.6.32   # a given version
# npm pack checks the tarball against the registry's integrity hash.
set -euo pipefail
version="${1:-latest}"
dest="$(cd "$(dirname "$0")" && pwd)/assets/vendor/uplot"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "uplot@$version" >/dev/null)
tar -xzf "$tmp"/uplot-*.tgz -C "$tmp"
resolved="$(node -p 'require(process.argv[1]).version' "$tmp/package/package.json")"

mkdir -p "$dest"
cp "$tmp/package/dist/uPlot.iife.min.js" "$tmp/package/dist/uPlot.min.css" "$tmp/package/LICENSE" "$dest/"
echo "$resolved" >"$dest/VERSION"
echo "uPlot $resolved vendored into $dest"
