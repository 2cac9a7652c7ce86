#!/usr/bin/env bash
# Rewrite constraints.txt: the exact versions of every package Dockyard and its test and lint
# tools install, resolved anew from pyproject.toml in a throwaway venv.
#
#   scripts/lock.sh            after changing dependencies in pyproject.toml (commit the result):
#                              the versions pinned already stay, new packages get the newest
#   scripts/lock.sh --upgrade  resolve every package anew (the newest the registry holds)
#
# install.sh, scripts/setup-testbed.sh and scripts/setup-git-testbed.sh install with
# `pip install -c constraints.txt`, so every server and every test run gets these versions
# instead of whatever the registry holds that day. tests/test_packaging.py checks that every
# dependency in pyproject.toml is pinned here.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
keep=(-c "$ROOT/constraints.txt")
if [[ "${1:-}" == "--upgrade" || ! -f "$ROOT/constraints.txt" ]]; then
  keep=()
fi
venv="$(mktemp -d)"
trap 'rm -rf "$venv"' EXIT

"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q \
  "${keep[@]}" "$ROOT[dev,postgres]"
{
  echo "# Exact versions for Dockyard and its test and lint tools; written by scripts/lock.sh"
  echo "# ($("$venv/bin/python" --version)); used as pip constraints by install.sh and the test scripts."
  "$venv/bin/python" -m pip freeze --disable-pip-version-check --exclude dockyard | LC_ALL=C sort -f
} >"$ROOT/constraints.txt.new"
mv "$ROOT/constraints.txt.new" "$ROOT/constraints.txt"
echo "lock: wrote $ROOT/constraints.txt ($(grep -vc '^#' "$ROOT/constraints.txt") packages)" >&2
