#!/usr/bin/env bash
# Dockyard installer for a Debian/Ubuntu server. Run as root from a checkout:
#
#   ./install.sh
#
# Idempotent: every step says what it did or that it was already done, and a second run
# changes nothing. Works with systemd (a dockyard.service unit) and without it (a background
# `dockyard serve` with a pid file, started at boot by an @reboot entry in /etc/cron.d).
# Either way `dockyard service status|start|stop|restart` operates the controller afterwards.
#
# Paths and first-run settings can be overridden from the environment:
#   DOCKYARD_PREFIX       virtualenv of the controller          (/opt/dockyard)
#   DOCKYARD_ETC          config dir, holds dockyard.env        (/etc/dockyard)
#   DOCKYARD_RUN_DIR      pid file dir (no systemd)             (/run)
#   DOCKYARD_LOG_DIR      log dir (no systemd)                  (/var/log)
#   DOCKYARD_BIN_DIR      where the `dockyard` command is linked (/usr/local/bin)
#   DOCKYARD_DOCKER_DAEMON_JSON  Docker's daemon.json           (/etc/docker/daemon.json)
#   DOCKYARD_SYSTEMD      auto | 1 | 0: use systemd units        (auto: when systemd is PID 1)
#   DOCKYARD_PYTHON       interpreter for the virtualenv        (/usr/bin/python3)
#   DOCKYARD_INSTALL_WAIT seconds to wait for the API to answer (90)
#   DOCKYARD_CRON_FILE    @reboot entry (no systemd)            (/etc/cron.d/dockyard)
#   DOCKYARD_SSHD_CONFIG  config of the sshd started (no systemd) (/etc/ssh/sshd_config)
#   DOCKYARD_ADMIN_USER   the first admin user, added when no admin user exists (admin);
#                         its random password is printed once at the end, stored nowhere
# Written into dockyard.env on the first run only (later runs keep the file as it is):
#   DOCKYARD_DATA_DIR (/var/lib/dockyard), DOCKYARD_LISTEN (127.0.0.1:8000),
#   DOCKYARD_HTTP_PORT (80), DOCKYARD_HTTPS_PORT (443), DOCKYARD_PROXY_ADDR (0.0.0.0),
#   DOCKYARD_BASE_DOMAIN, DOCKYARD_DASHBOARD_DOMAIN, DOCKYARD_DATABASE_URL,
#   DOCKYARD_GIT_AUTHORIZED_KEYS, DOCKER_HOST
#   (commented out when empty).
set -euo pipefail

SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PREFIX="${DOCKYARD_PREFIX:-/opt/dockyard}"
ETC_DIR="${DOCKYARD_ETC:-/etc/dockyard}"
RUN_DIR="${DOCKYARD_RUN_DIR:-/run}"
LOG_DIR="${DOCKYARD_LOG_DIR:-/var/log}"
BIN_DIR="${DOCKYARD_BIN_DIR:-/usr/local/bin}"
DEFAULT_DAEMON_JSON=/etc/docker/daemon.json
DAEMON_JSON="${DOCKYARD_DOCKER_DAEMON_JSON:-$DEFAULT_DAEMON_JSON}"
WAIT_SECONDS="${DOCKYARD_INSTALL_WAIT:-90}"
ENV_FILE="$ETC_DIR/dockyard.env"
PID_FILE="$RUN_DIR/dockyard.pid"
CONTROLLER_LOG="$LOG_DIR/dockyard.log"
UNIT_FILE=/etc/systemd/system/dockyard.service
DEFAULT_CRON_FILE=/etc/cron.d/dockyard
CRON_FILE="${DOCKYARD_CRON_FILE:-$DEFAULT_CRON_FILE}"
SSHD_CONFIG="${DOCKYARD_SSHD_CONFIG:-/etc/ssh/sshd_config}"

if [[ -n "${DOCKYARD_PYTHON:-}" ]]; then
  PYTHON="$DOCKYARD_PYTHON"
elif [[ -x /usr/bin/python3 ]]; then
  PYTHON=/usr/bin/python3
else
  PYTHON=python3
fi

case "${DOCKYARD_SYSTEMD:-auto}" in
  1 | yes | true) use_systemd=1 ;;
  0 | no | false) use_systemd=0 ;;
  *) if [[ -d /run/systemd/system ]]; then use_systemd=1; else use_systemd=0; fi ;;
esac

changes=0
step() { printf '==> %s\n' "$*"; }
did() { printf '    %s\n' "$*"; changes=$((changes + 1)); }
already() { printf '    already %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

[[ "$(id -u)" == 0 ]] || die "run install.sh as root"

docker_up() { docker info >/dev/null 2>&1; }

# --- 1. system packages -----------------------------------------------------------------
step "system packages"
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v sshd >/dev/null 2>&1 || [[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
if ((${#missing[@]})); then
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get: install them by hand"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  # Newer releases dropped nginx-light: take nginx there.
  for i in "${!missing[@]}"; do
    if [[ "${missing[$i]}" == nginx-light ]] &&
      ! apt-cache policy nginx-light 2>/dev/null | grep -q 'Candidate: [0-9]'; then
      missing[i]=nginx
    fi
  done
  apt-get install -y "${missing[@]}"
  did "installed ${missing[*]}"
else
  already "installed: docker, nginx, git, openssh-server, python3-venv"
fi

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  die "Dockyard needs Python >= 3.11; $PYTHON is $("$PYTHON" -V 2>&1)"

# --- 2. the controller's virtualenv --------------------------------------------------------
step "Dockyard in $PREFIX"
# What is packaged; the stamp of these decides whether to reinstall.
SOURCES=()
for item in pyproject.toml constraints.txt setup.cfg setup.py MANIFEST.in README.md LICENSE controller tui proxy_templates; do
  [[ -e "$SRC_DIR/$item" ]] && SOURCES+=("$item")
done
source_stamp() {
  {
    "$PYTHON" -V 2>&1
    (cd "$SRC_DIR" && find "${SOURCES[@]}" -type f \
      ! -path '*/__pycache__/*' ! -name '*.pyc' ! -path '*.egg-info/*' -print0 |
      LC_ALL=C sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -d' ' -f1
}
STAMP_FILE="$PREFIX/.dockyard-source-stamp"
want_stamp="$(source_stamp)"
reinstalled=0
if [[ ! -x "$PREFIX/bin/python" ]]; then
  mkdir -p "$(dirname "$PREFIX")"
  "$PYTHON" -m venv "$PREFIX"
  did "created virtualenv $PREFIX"
fi
if [[ -x "$PREFIX/bin/dockyard" && "$(cat "$STAMP_FILE" 2>/dev/null || true)" == "$want_stamp" ]]; then
  already "installed from $SRC_DIR (source unchanged)"
else
  # Build from a copy, so the checkout gets no build/ or *.egg-info droppings.
  build_dir="$(mktemp -d)"
  trap 'rm -rf "$build_dir"' EXIT
  (cd "$SRC_DIR" && tar -cf - --exclude='__pycache__' --exclude='*.egg-info' "${SOURCES[@]}") |
    tar -xf - -C "$build_dir"
  "$PREFIX/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q \
    --force-reinstall --no-deps "$build_dir" >/dev/null
  # Dependencies at the versions of constraints.txt (scripts/lock.sh), the ones the tests ran with.
  "$PREFIX/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q \
    -c "$SRC_DIR/constraints.txt" "$build_dir"
  rm -rf "$build_dir"
  trap - EXIT
  echo "$want_stamp" >"$STAMP_FILE"
  reinstalled=1
  did "installed Dockyard from $SRC_DIR"
fi

mkdir -p "$BIN_DIR"
if [[ "$(readlink "$BIN_DIR/dockyard" 2>/dev/null || true)" == "$PREFIX/bin/dockyard" ]]; then
  already "linked $BIN_DIR/dockyard"
else
  ln -sfn "$PREFIX/bin/dockyard" "$BIN_DIR/dockyard"
  did "linked $BIN_DIR/dockyard -> $PREFIX/bin/dockyard"
fi

# --- 3. settings -----------------------------------------------------------------------------
step "settings in $ENV_FILE"
if [[ -f "$ENV_FILE" ]]; then
  already "present (kept as it is)"
else
  mkdir -p "$ETC_DIR"
  tmp="$(mktemp "$ETC_DIR/.dockyard.env.XXXXXX")"
  chmod 600 "$tmp"
  optional() { # NAME VALUE: a setting, commented out when empty
    if [[ -n "$2" ]]; then echo "$1=$2"; else echo "# $1="; fi
  }
  {
    echo "# Dockyard controller settings (DOCKYARD_*). Written by install.sh; edit and restart."
    echo "DOCKYARD_DATA_DIR=${DOCKYARD_DATA_DIR:-/var/lib/dockyard}"
    echo "DOCKYARD_LISTEN=${DOCKYARD_LISTEN:-127.0.0.1:8000}"
    echo "DOCKYARD_HTTP_PORT=${DOCKYARD_HTTP_PORT:-80}"
    echo "DOCKYARD_HTTPS_PORT=${DOCKYARD_HTTPS_PORT:-443}"
    echo "DOCKYARD_PROXY_ADDR=${DOCKYARD_PROXY_ADDR:-0.0.0.0}"
    echo "# Apps get <app>.<base domain> when set (point a wildcard DNS record here)."
    optional DOCKYARD_BASE_DOMAIN "${DOCKYARD_BASE_DOMAIN:-}"
    echo "# The GUI on its own name through nginx (with a certificate when DOCKYARD_ACME_EMAIL is set)."
    optional DOCKYARD_DASHBOARD_DOMAIN "${DOCKYARD_DASHBOARD_DOMAIN:-}"
    echo "# Default: SQLite under the data dir. PostgreSQL: postgresql+psycopg://user:pass@host/db"
    optional DOCKYARD_DATABASE_URL "${DOCKYARD_DATABASE_URL:-}"
    echo "# The git user's authorized_keys, whose marked lines \`dockyard keys\` keeps (default ~dockyard/.ssh/)."
    optional DOCKYARD_GIT_AUTHORIZED_KEYS "${DOCKYARD_GIT_AUTHORIZED_KEYS:-}"
    echo "# The Docker Engine's address (default: unix:///var/run/docker.sock)."
    optional DOCKER_HOST "${DOCKER_HOST:-}"
  } >"$tmp"
  mv "$tmp" "$ENV_FILE"
  did "wrote $ENV_FILE (mode 0600)"
fi
if [[ "$(stat -c %a "$ENV_FILE")" != 600 ]]; then
  chmod 600 "$ENV_FILE"
  did "made $ENV_FILE readable by root only"
fi

env_get() { # NAME DEFAULT: the value in the env file
  local value
  value="$(sed -n "s/^$1=//p" "$ENV_FILE" | tail -1)"
  value="${value%\"}"
  value="${value#\"}"
  echo "${value:-$2}"
}
DATA_DIR="$(env_get DOCKYARD_DATA_DIR /var/lib/dockyard)"
LISTEN="$(env_get DOCKYARD_LISTEN 127.0.0.1:8000)"

# --- 4. Docker Engine ------------------------------------------------------------------------
step "Docker live-restore in $DAEMON_JSON"
swarm_state=""
if docker_up; then
  swarm_state="$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || true)"
fi
if [[ "$swarm_state" == active ]]; then
  note "skipped: this dockerd is in swarm mode, which refuses live-restore"
else
  result="$("$PYTHON" - "$DAEMON_JSON" <<'EOF'
import json, os, sys, tempfile

path = sys.argv[1]
data = {}
mode = 0o644
if os.path.exists(path):
    mode = os.stat(path).st_mode & 0o777
    with open(path) as handle:
        text = handle.read()
    if text.strip():
        try:
            data = json.loads(text)
        except ValueError as exc:
            sys.exit(f"{path} is not valid JSON ({exc}); fix it and run install.sh again")
    if not isinstance(data, dict):
        sys.exit(f"{path} does not hold a JSON object")
if data.get("live-restore") is True:
    print("unchanged")
    sys.exit(0)
data["live-restore"] = True
directory = os.path.dirname(path) or "."
os.makedirs(directory, exist_ok=True)
fd, tmp = tempfile.mkstemp(dir=directory, prefix=".daemon.json.")
with os.fdopen(fd, "w") as handle:
    json.dump(data, handle, indent=2)
    handle.write("\n")
os.chmod(tmp, mode)
os.replace(tmp, path)
print("changed")
EOF
)"
  if [[ "$result" == unchanged ]]; then
    already "on"
  else
    did "turned on live-restore (containers keep running while dockerd restarts)"
    if docker_up; then
      if [[ "$DAEMON_JSON" != "$DEFAULT_DAEMON_JSON" ]]; then
        note "the running dockerd does not read $DAEMON_JSON: not reloading it"
      elif ((use_systemd)); then
        systemctl reload docker
        note "reloaded dockerd (systemctl reload docker): live-restore is on now"
      elif [[ -s /var/run/docker.pid ]] && kill -HUP "$(cat /var/run/docker.pid)" 2>/dev/null; then
        note "sent SIGHUP to dockerd: live-restore is on now"
      else
        note "live-restore takes effect at the next dockerd restart"
      fi
    fi
  fi
fi

step "dockerd"
if docker_up; then
  already "running"
elif ((use_systemd)); then
  systemctl enable --now docker
  did "started docker.service"
else
  mkdir -p "$LOG_DIR"
  dockerd_args=()
  if [[ "$DAEMON_JSON" != "$DEFAULT_DAEMON_JSON" ]]; then
    dockerd_args+=(--config-file "$DAEMON_JSON")
  fi
  setsid dockerd "${dockerd_args[@]}" </dev/null >>"$LOG_DIR/dockerd.log" 2>&1 &
  did "started dockerd (log: $LOG_DIR/dockerd.log)"
fi
for _ in $(seq 1 120); do
  docker_up && break
  sleep 0.5
done
docker_up || die "dockerd does not answer; see $LOG_DIR/dockerd.log or journalctl -u docker"

# --- 5. the distro's nginx: Dockyard runs its own instance ---------------------------------
step "distro nginx service (Dockyard runs its own nginx under $DATA_DIR/nginx)"
if ((use_systemd)); then
  if systemctl list-unit-files nginx.service 2>/dev/null | grep -q '^nginx\.service'; then
    nginx_touched=0
    if systemctl is-active --quiet nginx; then
      systemctl stop nginx
      did "stopped nginx.service"
      nginx_touched=1
    fi
    if systemctl is-enabled --quiet nginx 2>/dev/null; then
      systemctl disable --quiet nginx
      did "disabled nginx.service"
      nginx_touched=1
    fi
    ((nginx_touched)) || already "stopped and disabled"
  else
    already "absent"
  fi
else
  # Without systemd nothing starts it at boot; stop only the default instance, found by the
  # pid file of /etc/nginx/nginx.conf and a master started without -p/-c.
  distro_pid_file="$(sed -n 's/^[[:space:]]*pid[[:space:]]\+\([^;]*\);.*/\1/p' /etc/nginx/nginx.conf 2>/dev/null | head -1)"
  distro_pid_file="${distro_pid_file:-/run/nginx.pid}"
  distro_pid="$(cat "$distro_pid_file" 2>/dev/null || true)"
  cmdline=""
  if [[ "$distro_pid" =~ ^[0-9]+$ ]]; then
    cmdline="$(tr '\0' ' ' <"/proc/$distro_pid/cmdline" 2>/dev/null || true)"
  fi
  if [[ "$cmdline" == "nginx: master process /usr/sbin/nginx"* && "$cmdline" != *" -p "* && "$cmdline" != *" -c "* ]]; then
    kill -QUIT "$distro_pid"
    did "stopped the distro's nginx (pid $distro_pid)"
  else
    already "not running"
  fi
fi

# --- 6. data dir -----------------------------------------------------------------------------
step "data dir $DATA_DIR"
if [[ -d "$DATA_DIR" ]]; then
  already "present"
else
  mkdir -p "$DATA_DIR"
  chmod 755 "$DATA_DIR"
  did "created"
fi

# --- 6b. the git user: `git push` over SSH logs in as it; sshd forces `dockyard git-shell` ----
GIT_USER="${DOCKYARD_GIT_USER:-dockyard}"
step "git user $GIT_USER"
if id "$GIT_USER" >/dev/null 2>&1; then
  already "user $GIT_USER exists"
else
  # A real shell: sshd runs the forced command through it.
  useradd --system --user-group --create-home --home-dir "/home/$GIT_USER" --shell /bin/sh "$GIT_USER"
  did "created user $GIT_USER"
fi
if [[ "$(getent shadow "$GIT_USER" | cut -d: -f2)" == '!'* ]]; then
  usermod -p '*' "$GIT_USER" # a locked account (useradd's default) is refused by sshd
  did "unlocked $GIT_USER for key logins"
fi

# --- 6c. sshd: git push over SSH needs it running -------------------------------------------
step "sshd"
if ((use_systemd)); then
  ssh_unit=ssh # Debian/Ubuntu; sshd elsewhere
  systemctl list-unit-files ssh.service 2>/dev/null | grep -q '^ssh\.service' || ssh_unit=sshd
  if systemctl is-active --quiet "$ssh_unit.socket" 2>/dev/null; then
    already "listening ($ssh_unit.socket: sshd starts on the first connection)"
  elif systemctl is-active --quiet "$ssh_unit" && systemctl is-enabled --quiet "$ssh_unit" 2>/dev/null; then
    already "running ($ssh_unit.service)"
  else
    systemctl enable --now "$ssh_unit"
    did "started and enabled $ssh_unit.service"
  fi
else
  sshd_bin="$(command -v sshd 2>/dev/null || echo /usr/sbin/sshd)"
  # Host keys and the privilege-separation dir (the init script or systemd would make them).
  mkdir -p /run/sshd
  chmod 0755 /run/sshd
  if [[ "$SSHD_CONFIG" == /etc/ssh/sshd_config ]] && ! ls /etc/ssh/ssh_host_*_key >/dev/null 2>&1; then
    ssh-keygen -A >/dev/null
    did "generated the SSH host keys"
  fi
  sshd_pid_file="$("$sshd_bin" -T -f "$SSHD_CONFIG" 2>/dev/null | awk '$1 == "pidfile" {print $2}')"
  sshd_pid_file="${sshd_pid_file:-/run/sshd.pid}"
  sshd_pid="$(cat "$sshd_pid_file" 2>/dev/null || true)"
  if [[ "$sshd_pid" =~ ^[0-9]+$ ]] && [[ "$(cat "/proc/$sshd_pid/comm" 2>/dev/null || true)" == sshd ]]; then
    already "running (pid $sshd_pid)"
  else
    "$sshd_bin" -t -f "$SSHD_CONFIG" || die "sshd refuses $SSHD_CONFIG (see above)"
    "$sshd_bin" -f "$SSHD_CONFIG" </dev/null
    did "started sshd ($SSHD_CONFIG; at boot the openssh-server init script starts it)"
  fi
fi

# --- 7. the controller -----------------------------------------------------------------------
step "controller (dockyard serve)"
# `dockyard service` in pid-file mode, with this install's paths (also in the @reboot entry).
service_args=(--manager pidfile --pid-file "$PID_FILE" --env-file "$ENV_FILE" --log-file "$CONTROLLER_LOG")
controller_pid() { # prints the pid when the pid file's process is a live `dockyard serve`
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  # The redirection's own error (no such /proc entry) goes to /dev/null too.
  { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q 'dockyard serve' || return 1
  echo "$pid"
}

if ((use_systemd)); then
  unit="[Unit]
Description=Dockyard controller (API, GUI, deploys)
After=network-online.target docker.service
Wants=network-online.target docker.service

[Service]
EnvironmentFile=$ENV_FILE
ExecStart=$PREFIX/bin/dockyard serve
Restart=always
RestartSec=2
KillMode=mixed

[Install]
WantedBy=multi-user.target"
  unit_changed=0
  if [[ "$(cat "$UNIT_FILE" 2>/dev/null || true)" != "$unit" ]]; then
    printf '%s\n' "$unit" >"$UNIT_FILE"
    systemctl daemon-reload
    unit_changed=1
    did "wrote $UNIT_FILE"
  fi
  if ! systemctl is-enabled --quiet dockyard 2>/dev/null; then
    systemctl enable --quiet dockyard
    did "enabled dockyard.service"
  fi
  if ! systemctl is-active --quiet dockyard; then
    systemctl start dockyard
    did "started dockyard.service"
  elif ((unit_changed || reinstalled)); then
    systemctl restart dockyard
    did "restarted dockyard.service (new version or unit)"
  else
    already "running (dockyard.service)"
  fi
else
  # Step 8 below waits for the API; here only start (--wait 0).
  if pid="$(controller_pid)"; then
    if ((reinstalled)); then
      "$PREFIX/bin/dockyard" service restart "${service_args[@]}" --wait 0 >/dev/null
      did "restarted the controller with the new version (pid $(cat "$PID_FILE"), log: $CONTROLLER_LOG)"
    else
      already "running (pid $pid)"
    fi
  else
    "$PREFIX/bin/dockyard" service start "${service_args[@]}" --wait 0 >/dev/null
    did "started the controller (pid $(cat "$PID_FILE" 2>/dev/null), log: $CONTROLLER_LOG)"
  fi

  # Without systemd nothing starts the controller at boot: an @reboot entry for cron does
  # (Debian's init scripts start cron, dockerd and sshd at boot).
  step "start at boot: $CRON_FILE"
  cron_entry="# Written by install.sh: start the Dockyard controller at boot (no systemd here).
@reboot root $PREFIX/bin/dockyard service start ${service_args[*]} --wait 300 >>$CONTROLLER_LOG 2>&1"
  if [[ "$(cat "$CRON_FILE" 2>/dev/null || true)" == "$cron_entry" ]]; then
    already "present"
  else
    mkdir -p "$(dirname "$CRON_FILE")"
    printf '%s\n' "$cron_entry" >"$CRON_FILE"
    chmod 644 "$CRON_FILE"
    did "wrote $CRON_FILE"
  fi
  if [[ "$CRON_FILE" == "$DEFAULT_CRON_FILE" ]] && ! command -v cron >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y cron >/dev/null
      did "installed cron (it runs the @reboot entry)"
    else
      note "no cron daemon: start the controller after a reboot with 'dockyard service start'"
    fi
  fi
fi

# --- 8. wait for the API -------------------------------------------------------------------
host="${LISTEN%:*}"
port="${LISTEN##*:}"
case "$host" in
  0.0.0.0 | "") probe_host=127.0.0.1 ;;
  "[::]" | "::") probe_host="[::1]" ;;
  *) probe_host="$host" ;;
esac
API_URL="http://$probe_host:$port"
step "waiting for $API_URL/api/v1/health"
watch_pid=""
if ((use_systemd == 0)); then
  watch_pid="$(cat "$PID_FILE" 2>/dev/null || true)"
fi
# Polls until 200; gives up early when the background controller has exited.
if ! "$PYTHON" - "$API_URL/api/v1/health" "$WAIT_SECONDS" "$watch_pid" <<'EOF'
import os, sys, time, urllib.request

url, deadline, pid = sys.argv[1], time.monotonic() + float(sys.argv[2]), sys.argv[3]
while True:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            if response.status == 200:
                sys.exit(0)
    except OSError:
        pass
    if pid and not os.path.exists(f"/proc/{pid}"):
        print(f"the controller (pid {pid}) exited", file=sys.stderr)
        sys.exit(1)
    if time.monotonic() > deadline:
        sys.exit(1)
    time.sleep(0.5)
EOF
then
  if ((use_systemd)); then
    journalctl -u dockyard -n 30 --no-pager >&2 || true
  else
    tail -30 "$CONTROLLER_LOG" >&2 || true
  fi
  die "the API did not answer (waited up to ${WAIT_SECONDS}s)"
fi
note "healthy"

TOKEN_FILE="$DATA_DIR/admin.token"
if [[ -f "$TOKEN_FILE" && "$(stat -c %a "$TOKEN_FILE")" != 600 ]]; then
  chmod 600 "$TOKEN_FILE"
  did "made $TOKEN_FILE readable by root only"
fi

# --- 9. the first admin user: the password is printed once below and written nowhere ------
ADMIN_USER="${DOCKYARD_ADMIN_USER:-admin}"
step "admin user $ADMIN_USER"
admin_password=""
# The installed CLI with the bootstrap token (the env file's, else the token file's).
bootstrap_token="$(env_get DOCKYARD_ADMIN_TOKEN "")"
if [[ -z "$bootstrap_token" ]]; then
  bootstrap_token="$(cat "$TOKEN_FILE" 2>/dev/null || true)"
fi
cli() { DOCKYARD_URL="$API_URL" DOCKYARD_TOKEN="$bootstrap_token" "$PREFIX/bin/dockyard" "$@"; }
admins=""
if [[ -z "$bootstrap_token" ]] || ! users_json="$(cli users list --json)"; then
  # An admin may have revoked the bootstrap token once users existed: nothing to do then.
  admins="unknown"
else
  # "exists", else the admins there are (space-separated), else nothing.
  admins="$("$PYTHON" -c '
import json, sys
name, users = sys.argv[1], json.loads(sys.stdin.read())
if any(u["name"] == name for u in users):
    print("exists")
else:
    print(" ".join(u["name"] for u in users if u["role"] == "admin"))
' "$ADMIN_USER" <<<"$users_json")"
fi
if [[ "$admins" == unknown ]]; then
  note "skipped: the bootstrap admin token (DOCKYARD_ADMIN_TOKEN or $TOKEN_FILE) was refused or is"
  note "missing, so the users cannot be listed; add an admin with: dockyard users add NAME --role admin"
elif [[ "$admins" == exists ]]; then
  already "user $ADMIN_USER exists (password unchanged; dockyard users passwd $ADMIN_USER sets a new one)"
elif [[ -n "$admins" ]]; then
  already "an admin user exists ($admins): not adding $ADMIN_USER"
else
  # Generated here and handed over through a pipe (printf is a builtin): never in a file
  # (a here-string may be one), an argument or the environment.
  admin_password="$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(18))')"
  printf '%s\n' "$admin_password" | cli users add "$ADMIN_USER" --role admin --password-stdin >/dev/null ||
    die "could not add the admin user $ADMIN_USER (see above)"
  did "added user $ADMIN_USER (role admin; its password is printed at the end, this once)"
fi
unset bootstrap_token

# --- done ------------------------------------------------------------------------------------
data_dir_hint=""
if [[ "$DATA_DIR" != /var/lib/dockyard ]]; then
  data_dir_hint="export DOCKYARD_DATA_DIR=$DATA_DIR"$'\n'"    "
fi
cat <<EOF

Dockyard is running.
  API:       $API_URL/api/v1   (OpenAPI: $API_URL/openapi.json)
  settings:  $ENV_FILE
  data:      $DATA_DIR
  admin token: $TOKEN_FILE (readable by root only)
  web GUI:   $API_URL/   (log in at $API_URL/login)

Operate the controller: dockyard service status|start|stop|restart
CLI on this server, as root (it reads the token file itself):
    ${data_dir_hint}export DOCKYARD_URL=$API_URL
    dockyard apps list
From elsewhere (through an SSH tunnel to $LISTEN): set DOCKYARD_URL and
DOCKYARD_TOKEN=<the contents of the token file>.

Next steps:
    dockyard apps create web
    dockyard domains add web www.example.com     # point the domain's DNS at this server
    dockyard deploy web --path ./my-app          # a directory with a Dockerfile
  git push deploys: see README.md.
EOF

if [[ -n "$admin_password" ]]; then
  # The one place the password appears (printf, as a here-document may be a temporary file).
  printf '\nLog in at %s as the admin user (the password is shown this once, keep it now):\n' "$API_URL/login"
  printf '    user:     %s\n    password: %s\n' "$ADMIN_USER" "$admin_password"
  printf 'A new password: dockyard users passwd %s\n' "$ADMIN_USER"
fi

echo
if ((changes == 0)); then
  echo "Nothing changed: Dockyard was already installed and running."
else
  echo "Done: $changes change(s)."
fi
