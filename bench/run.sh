#!/usr/bin/env bash
# Run the benchmarks of the core deploy pipeline (see bench/README.md). They print figures
# and ratios against baselines measured in the same run; they assert nothing.
#
# Usage: bench/run.sh [NAME...]      NAME in: deploy_overhead cli_deploy zero_downtime footprint proxy_overhead
#                                    acme_issuance queue git_push_to_live webhook_intake tui auth_overhead gui
# Needs: root (apt-get), a running dockerd (scripts/setup-testbed.sh starts one), the venv .venv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# What the benchmarks need on the host, beyond what the test suite installs.
missing=()
command -v wrk >/dev/null || missing+=(wrk)            # proxy_overhead: HTTP load generator
command -v nginx >/dev/null || missing+=(nginx-light)  # the proxy itself (and the reference)
command -v tmux >/dev/null || missing+=(tmux)            # tui: the terminal it runs in
if ((${#missing[@]})); then
  echo "bench: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
bash scripts/setup-acme-testbed.sh  # acme_issuance: Pebble + pebble-challtestsrv
eval "$(bash scripts/setup-git-testbed.sh)"  # git_push_to_live: sshd, the git user
if ! docker info >/dev/null 2>&1; then
  echo "bench: dockerd is not running; start it first (scripts/setup-testbed.sh)" >&2
  exit 1
fi
if [[ ! -x .venv/bin/python ]]; then
  echo "bench: no .venv; create it first (scripts/setup-testbed.sh --no-services)" >&2
  exit 1
fi

names=("$@")
((${#names[@]})) || names=(
  deploy_overhead cli_deploy zero_downtime footprint proxy_overhead acme_issuance queue git_push_to_live webhook_intake tui auth_overhead gui
)
# Other work on the machine skews every figure: show how busy it was around each benchmark.
machine() {
  local pressure=""
  [[ -r /proc/pressure/cpu ]] && pressure="; cpu pressure: $(head -1 /proc/pressure/cpu)"
  echo "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)$pressure"
}
for name in "${names[@]}"; do
  echo "===== bench.$name $(date -u +%FT%TZ) ($(machine))"
  .venv/bin/python -m "bench.$name"
  echo "===== after bench.$name ($(machine))"
  echo
done
