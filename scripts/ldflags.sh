#!/usr/bin/env bash
# Prints the -ldflags of a vadvisor build: .promu.yml's build.ldflags, their
# one source, with promu's template fields filled in. The Makefile and the
# Dockerfile build with them, as `promu build` does.
#   version from VERSION;
#   REVISION, BRANCH: default from git, else "unknown";
#   BUILD_USER: default user@host; BUILD_DATE: default now (UTC).
set -euo pipefail
cd "$(dirname "$0")/.."

flags=$(awk '/^  ldflags: \|$/ { on = 1; next } on && /^    / { $1 = $1; printf "%s%s", sep, $0; sep = " "; next } on { exit }' .promu.yml)
[ -n "$flags" ] || { echo "ldflags.sh: .promu.yml has no build.ldflags block" >&2; exit 1; }
version=$(tr -d '[:space:]' <VERSION)
revision=${REVISION:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
branch=${BRANCH:-$(git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)}
user=${BUILD_USER:-$(id -un)@$(hostname)}
date=${BUILD_DATE:-$(date -u +%Y%m%d-%H:%M:%S)}

flags=${flags//'{{.Version}}'/"$version"}
flags=${flags//'{{.Revision}}'/"$revision"}
flags=${flags//'{{.Branch}}'/"$branch"}
flags=${flags//'{{user}}@{{host}}'/"$user"}
flags=${flags//'{{date "20060102-15:04:05"}}'/"$date"}
case $flags in
  *'{{'*) echo "ldflags.sh: .promu.yml's ldflags use a template this script does not fill: $flags" >&2; exit 1 ;;
esac
echo "$flags"
