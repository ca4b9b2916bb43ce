#!/usr/bin/env bash
# `make test`, after `make lint`: sets up the test bed, then runs every
# package's tests one package at a time (they share one libvirtd), the fuzz
# targets and the soak.
# However it ends (pass, failure, Ctrl-C), it then stops the test guests
# (scripts/test-guest-prefixes) with scripts/testbed.sh --stop, keeping their
# definitions and disk images for a fast next run, and exits with the tests'
# status (or the stop step's, if only that failed).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

stop_guests() {
  local status=$?
  trap - EXIT INT TERM
  local prefixes
  prefixes=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' scripts/test-guest-prefixes)
  # shellcheck disable=SC2086 # one word per prefix
  bash scripts/testbed.sh --stop $prefixes || { [ "$status" -ne 0 ] || status=1; }
  exit "$status"
}
trap stop_guests EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TESTBED_PACKAGES="prometheus prometheus-libvirt-exporter apache2-utils openssl chromium systemd lintian skopeo umoci podman runc" bash scripts/testbed.sh vadv-t 3
"$GO" test -p 1 -race -count=1 -timeout 45m ./...
"$GO" test -run '^$' -fuzz '^FuzzDecode$' -fuzztime 20s ./domstats
"$GO" test -run '^$' -fuzz '^FuzzEventsQuery$' -fuzztime 20s ./api
"$GO" test -run '^$' -fuzz '^FuzzStatsRequest$' -fuzztime 20s ./api
"$GO" test -run '^$' -fuzz '^FuzzLoad$' -fuzztime 20s ./history
"$GO" test -run '^$' -fuzz '^FuzzRead$' -fuzztime 20s ./internal/storage
"$GO" test -run '^$' -fuzz '^FuzzStoreLoad$' -fuzztime 20s ./events
VADVISOR_SOAK=2m "$GO" test -count=1 -run TestSoak -timeout 10m ./e2e
