#!/usr/bin/env bash
# Install what the ACME tests need: Debian's `pebble` (Pebble 2.4, Let's Encrypt's test CA,
# and pebble-challtestsrv, its test DNS server). Idempotent: does nothing when both are there.
#
# The tests start and stop Pebble themselves (tests/e2e/acme_testbed.py), each on its own
# free loopback ports with its own CA: this script only installs.
#
# Usage: scripts/setup-acme-testbed.sh      (as root; progress on stderr, nothing on stdout)
set -euo pipefail
exec 3>&1 1>&2

say() { echo "setup-acme-testbed: $*"; }

have_pebble() {
  command -v pebble >/dev/null 2>&1 && command -v pebble-challtestsrv >/dev/null 2>&1
}

if have_pebble; then
  say "pebble already installed"
  exit 0
fi
if [[ "$(id -u)" != 0 ]]; then
  say "pebble is missing and installing it needs root"
  exit 1
fi
say "installing pebble"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y pebble; then
  apt-get update
  apt-get install -y pebble
fi
if ! have_pebble; then
  say "the pebble package did not provide pebble and pebble-challtestsrv on PATH"
  exit 1
fi
