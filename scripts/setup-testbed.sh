#!/usr/bin/env bash
# Prepare this machine for Dockyard's tests: Debian packages, the project venv, dockerd and
# a throwaway PostgreSQL cluster. Idempotent: on a warm machine it takes about a second.
#
# Usage: scripts/setup-testbed.sh [--no-services] [--private-dockerd DIR]
#        scripts/setup-testbed.sh --stop-postgres PG_DIR
#   --no-services          only packages and the venv (no dockerd, no PostgreSQL)
#   --private-dockerd DIR  start a dockerd of the tests' own under DIR (scripts/test-dockerd.sh)
#                          and export DOCKER_HOST for it, instead of using (or starting) the
#                          machine's dockerd
#   --stop-postgres PG_DIR stop the cluster in PG_DIR/data and remove PG_DIR (what
#                          scripts/test.sh does at exit with the cluster it started)
#
# Progress goes to stderr. stdout carries only `export NAME=value` lines, so a caller can do
#   eval "$(scripts/setup-testbed.sh)"
# Exported: DOCKYARD_TEST_POSTGRES_URL (unless --no-services, or already set: then that
# server is used and no cluster is made), DOCKYARD_TEST_PG_STARTED (the
# cluster's dir, when this run started it rather than finding it running), DOCKER_HOST (with
# --private-dockerd).
#
# Tunables (env): PYTHON (interpreter for the venv, default python3),
#   DOCKYARD_TEST_PG_DIR (default /tmp/dockyard-test-pg),
#   DOCKYARD_TEST_PG_PORT (first port tried for a new cluster, default 55432).
set -euo pipefail

# Keep stdout for the export lines only.
exec 3>&1 1>&2

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

services=1
private_dockerd=""
stop_postgres=""
while (($#)); do
  case "$1" in
    --no-services) services=0 ;;
    --private-dockerd) private_dockerd="${2:?--private-dockerd needs a DIR}"; shift ;;
    --stop-postgres) stop_postgres="${2:?--stop-postgres needs a PG_DIR}"; shift ;;
    *) echo "setup-testbed: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

say() { echo "setup-testbed: $*"; }

pg_bin() {
  find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1
}

if [[ -n "$stop_postgres" ]]; then
  data="$stop_postgres/data"
  if [[ -f "$data/postmaster.pid" ]]; then
    say "stopping PostgreSQL in $data"
    runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null ||
      { say "pg_ctl stop failed for $data"; exit 1; }
  fi
  rm -rf --one-file-system "$stop_postgres"
  say "removed $stop_postgres"
  exit 0
fi

if [[ "$(id -u)" != 0 ]]; then
  say "must run as root (apt-get, dockerd, runuser postgres)"
  exit 1
fi

# --- Debian packages ---------------------------------------------------------------------
# What the test tiers need on the host (chromium: the browser tier's, driven by Playwright).
PACKAGES=(
  chromium
  docker.io
  nginx-light
  busybox-static
  git
  openssh-server
  postgresql
  python3-venv
  tmux  # the TUI smoke test drives `dockyard tui` in a detached tmux at 80x24
)
# The browser tier's accessibility test fetches axe-core with `npm pack`: Debian's npm where
# the machine has no npm of its own (its Node.js may come from elsewhere: leave that one be).
if ! command -v npm >/dev/null; then
  PACKAGES+=(npm)
fi

missing=()
installed="$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)"
for pkg in "${PACKAGES[@]}"; do
  if ! grep -qx "$pkg installed" <<<"$installed"; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y "${missing[@]}"
else
  say "packages already installed"
fi

# --- Python venv -----------------------------------------------------------------------------
VENV="$ROOT/.venv"
STAMP="$VENV/.dockyard-install-stamp"
python="${PYTHON:-python3}"

if [[ -x "$VENV/bin/python" ]] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  say "venv is broken (its interpreter does not run); recreating it"
  rm -rf "$VENV"
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating venv $VENV with $python"
  "$python" -m venv "$VENV"
fi

# Reinstall only when pyproject.toml (or the venv's location or interpreter) changed.
want_stamp="$(
  {
    sha256sum pyproject.toml constraints.txt
    echo "$ROOT"
    "$VENV/bin/python" -c 'import sys; print(sys.version)'
  } | sha256sum | cut -d' ' -f1
)"
if [[ "$(cat "$STAMP" 2>/dev/null || true)" != "$want_stamp" ]]; then
  say "installing the project into the venv (pip install -c constraints.txt -e '.[test,lint]')"
  "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off \
    -c constraints.txt -e '.[test,lint]'
  echo "$want_stamp" >"$STAMP"
else
  say "venv already up to date"
fi

if ((services == 0)); then
  exit 0
fi

# --- Pebble (ACME tests) and the git user + sshd (git push tests) ---------------------------
# Each script installs only; the tests start their own Pebble and sshd on free loopback ports.
# Their stdout carries only `export NAME=value` lines: pass them on to our caller.
for part in setup-acme-testbed.sh setup-git-testbed.sh; do
  if [[ -f "$ROOT/scripts/$part" ]]; then
    exports="$(bash "$ROOT/scripts/$part" </dev/null 3>&-)"
    if [[ -n "$exports" ]]; then
      echo "$exports" >&3
    fi
  fi
done

# --- Docker Engine -------------------------------------------------------------------------
if [[ -n "$private_dockerd" ]]; then
  # 3>&-: long-lived daemons must not hold the caller's stdout pipe open.
  exports="$(bash "$ROOT/scripts/test-dockerd.sh" start "$private_dockerd" </dev/null 3>&-)"
  echo "$exports" >&3
  eval "$exports"
  say "private dockerd started: $DOCKER_HOST"
elif docker info >/dev/null 2>&1; then
  say "dockerd already running"
else
  # 3>&-: long-lived daemons must not hold the caller's stdout pipe open.
  bash "$ROOT/scripts/start-dockerd.sh" </dev/null 3>&-
  say "dockerd started"
fi

# --- PostgreSQL (throwaway cluster, trust auth, loopback only) -----------------------------
if [[ -n "${DOCKYARD_TEST_POSTGRES_URL:-}" ]]; then
  say "PostgreSQL: DOCKYARD_TEST_POSTGRES_URL is set, using it ($DOCKYARD_TEST_POSTGRES_URL)"
  exit 0
fi
PG_DIR="${DOCKYARD_TEST_PG_DIR:-/tmp/dockyard-test-pg}"
PG_DATA="$PG_DIR/data"
PG_BIN="$(pg_bin)"
if [[ -z "$PG_BIN" ]]; then
  say "no PostgreSQL server under /usr/lib/postgresql"
  exit 1
fi

as_postgres() { runuser -u postgres -- "$@"; }

pg_answers() { # port
  "$PG_BIN/psql" -h 127.0.0.1 -p "$1" -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1
}

port_free() { # port
  python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}

pg_port=""
# A live postmaster of this data dir (a pid file whose pid is a postgres process; after a
# reboot or SIGKILL the pid file is stale and the pid may belong to anything else).
pg_pid="$(head -1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)"
if [[ "$pg_pid" =~ ^[0-9]+$ && "$(cat "/proc/$pg_pid/comm" 2>/dev/null)" == postgres ]]; then
  port="$(sed -n 4p "$PG_DATA/postmaster.pid")"
  if pg_answers "$port"; then
    pg_port="$port"
    say "PostgreSQL already running on 127.0.0.1:$pg_port ($PG_DATA)"
  else
    say "PostgreSQL in $PG_DATA runs but does not answer; restarting it"
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w stop || {
      say "cannot stop it (pid $pg_pid)"
      exit 1
    }
  fi
fi

if [[ -z "$pg_port" ]]; then
  mkdir -p "$PG_DIR"
  chown postgres "$PG_DIR"
  # No live postmaster: a postmaster.pid left behind is stale.
  rm -f "$PG_DATA/postmaster.pid"
  if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
    rm -rf "$PG_DATA"
    say "initdb $PG_DATA"
    as_postgres "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres >"$PG_DIR/initdb.log" 2>&1 || {
      cat "$PG_DIR/initdb.log"
      exit 1
    }
  fi
  port="${DOCKYARD_TEST_PG_PORT:-55432}"
  for _ in $(seq 1 200); do
    if port_free "$port"; then
      break
    fi
    port=$((port + 1))
  done
  say "starting PostgreSQL on 127.0.0.1:$port (log: $PG_DIR/log)"
  # Said before it starts, so a caller that stops what it started knows even if it fails.
  echo "export DOCKYARD_TEST_PG_STARTED=$PG_DIR" >&3
  if ! as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -w -t 60 \
    -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1" -l "$PG_DIR/log" start </dev/null >/dev/null 3>&-; then
    tail -20 "$PG_DIR/log" || true
    exit 1
  fi
  for _ in $(seq 1 60); do
    pg_answers "$port" && break
    sleep 0.5
  done
  if ! pg_answers "$port"; then
    say "PostgreSQL did not answer on 127.0.0.1:$port"
    tail -20 "$PG_DIR/log" || true
    exit 1
  fi
  pg_port="$port"
fi

url="postgresql+psycopg://postgres@127.0.0.1:$pg_port/postgres"
say "DOCKYARD_TEST_POSTGRES_URL=$url"
echo "export DOCKYARD_TEST_POSTGRES_URL=$url" >&3
