#!/usr/bin/env bash
# Start dockerd without systemd when it is not answering yet; wait until it does.
# Extra arguments are passed to dockerd. Logs go to ${DOCKERD_LOG:-/var/log/dockerd.log}.
set -euo pipefail

log_file="${DOCKERD_LOG:-/var/log/dockerd.log}"
pid_file=/var/run/docker.pid

if docker info >/dev/null 2>&1; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "dockerd is not installed (apt-get install -y docker.io)" >&2
  exit 1
fi

# A dockerd that is still starting (or stuck) owns the pid file: wait for it instead of
# starting a second one, which would refuse to start anyway.
pid=""
if [[ -s "$pid_file" ]]; then
  pid="$(cat "$pid_file")"
  if ! kill -0 "$pid" 2>/dev/null || [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" != dockerd ]]; then
    pid=""
  fi
fi

if [[ -z "$pid" ]]; then
  mkdir -p "$(dirname "$log_file")"
  echo "starting dockerd (log: $log_file)" >&2
  # setsid: the daemon must not die with the terminal or process group of the caller.
  setsid dockerd "$@" </dev/null >>"$log_file" 2>&1 &
  pid=$!
fi

for _ in $(seq 1 120); do
  if docker info >/dev/null 2>&1; then
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    break
  fi
  sleep 0.5
done
echo "dockerd did not start; see $log_file" >&2
tail -20 "$log_file" >&2 || true
exit 1
