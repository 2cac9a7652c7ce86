#!/usr/bin/env bash
# A private dockerd for the test suite, next to (never instead of) the machine's own Docker.
#
#   scripts/test-dockerd.sh start DIR    start it under DIR; prints `export DOCKER_HOST=...`
#   scripts/test-dockerd.sh restart DIR  start it again with the same arguments (after a kill)
#   scripts/test-dockerd.sh stop DIR     stop it (and its containerd), unmount and remove DIR
#
# Everything it owns lives under DIR: data root, exec root (with its own containerd), pid
# file, socket, log, and `args` (the dockerd arguments, so `restart` uses the same ones).
# It does not clash with a system dockerd on the same host: its own socket; its own default
# bridge (an interface `dyt<suffix>` made here with DOCKYARD_TEST_DOCKER_BIP, default the
# first 10.214.N.1/24 not routed yet); no iptables rules, NAT or ip_forward changes (the tests reach containers
# from the host only); its own containerd namespaces and cgroup parent; an empty
# daemon.json (so no live-restore from /etc/docker/daemon.json). User-defined networks come
# from Docker's default pools, which skip subnets already routed on the host.
# Without iptables rules of its own, traffic BETWEEN its containers is dropped where the host's
# FORWARD policy is DROP with br_netfilter (as the system dockerd sets them); the tests talk to
# containers from the host only, which works.
# Two options must NOT be used here: dockerd 20.10 deletes the host's `docker0` (the
# system dockerd's bridge) at start with `--bridge none`, and at every restart with
# `--default-address-pool` (daemon/daemon_unix.go, removeDefaultBridgeInterface).
#
# Progress goes to stderr; `start` prints only `export` lines on stdout, for `eval`.
set -euo pipefail
exec 3>&1 1>&2

say() { echo "test-dockerd: $*"; }

usage() {
  say "usage: $0 start|restart|stop DIR"
  exit 2
}

[[ $# == 2 ]] || usage
action="$1"
DIR="$2"
[[ "$DIR" == /* ]] || { say "DIR must be an absolute path: $DIR"; exit 2; }

SOCKET="$DIR/docker.sock"
PID_FILE="$DIR/docker.pid"
LOG="$DIR/dockerd.log"
ARGS_FILE="$DIR/args"
DATA_ROOT="$DIR/data"
EXEC_ROOT="$DIR/exec"

# Bridge, containerd namespaces and cgroup parent are named after the whole DIR (a hash of it;
# <= 15 characters, an interface name): two runs side by side (every run's DIR ends in
# `dockerd`) must never share, or one's `stop` would delete the other's bridge and processes.
NAME="dyt$(printf '%s' "$DIR" | sha256sum | cut -c1-10)"

alive() { # pid comm: a live (not zombie) process with that name
  [[ "$1" =~ ^[0-9]+$ ]] || return 1
  [[ "$(cat "/proc/$1/comm" 2>/dev/null || true)" == "$2" ]] || return 1
  [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)" != Z ]]
}

answers() {
  DOCKER_HOST="unix://$SOCKET" docker info >/dev/null 2>&1
}

launch() {
  local args=()
  mapfile -t args <"$ARGS_FILE"
  # A pid file left by a killed dockerd (its pid dead or a zombie) would make it refuse.
  # So would its containerd's (it dies with dockerd), as dockerd would wait for it.
  if [[ -f "$PID_FILE" ]] && ! alive "$(cat "$PID_FILE" 2>/dev/null || true)" dockerd; then
    rm -f "$PID_FILE"
  fi
  local containerd_pid_file="$EXEC_ROOT/containerd/containerd.pid"
  if [[ -f "$containerd_pid_file" ]] && ! alive "$(cat "$containerd_pid_file" 2>/dev/null || true)" containerd; then
    rm -f "$containerd_pid_file"
  fi
  if ! ip link show "$NAME" >/dev/null 2>&1; then
    ip link add "$NAME" type bridge
    ip addr add "$(cat "$DIR/bip")" dev "$NAME"
    ip link set "$NAME" up
  fi
  # setsid: it must not die with the caller's terminal or process group.
  local had_docker0=0
  ip link show docker0 >/dev/null 2>&1 && had_docker0=1
  setsid dockerd "${args[@]}" </dev/null >>"$LOG" 2>&1 3>&- &
  local pid=$!
  for _ in $(seq 1 240); do
    if answers; then
      say "dockerd (pid $pid) answers on unix://$SOCKET"
      # The system dockerd's bridge must survive a second dockerd (see above).
      if ((had_docker0)) && ! ip link show docker0 >/dev/null 2>&1; then
        say "ERROR: the host's docker0 disappeared while the private dockerd started"
        return 1
      fi
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      break
    fi
    sleep 0.25
  done
  say "the private dockerd did not start; see $LOG"
  tail -20 "$LOG" || true
  return 1
}

start() {
  command -v dockerd >/dev/null 2>&1 || { say "dockerd is not installed (apt-get install -y docker.io)"; exit 1; }
  mkdir -p "$DIR" "$DATA_ROOT" "$EXEC_ROOT"
  local fs
  fs="$(stat -f -c %T "$DATA_ROOT")"
  case "$fs" in
    overlayfs | overlay | tmpfs | aufs)
      say "$DATA_ROOT is on $fs, where overlay2 does not work: choose DIR on a disk filesystem"
      exit 1
      ;;
  esac
  echo '{}' >"$DIR/daemon.json"
  # The default bridge's address: a /24 of 10.214.0.0/16 no other interface routes yet (two
  # runs at once, e.g. a nested one, must not share a subnet).
  local bip="${DOCKYARD_TEST_DOCKER_BIP:-}" third
  if [[ -z "$bip" ]]; then
    for third in $(seq 0 255); do
      if ! ip -4 route show | grep -q "^10\.214\.$third\.0/24 "; then
        bip="10.214.$third.1/24"
        break
      fi
    done
  fi
  [[ -n "$bip" ]] || { say "no free /24 in 10.214.0.0/16 for the bridge: set DOCKYARD_TEST_DOCKER_BIP"; exit 1; }
  echo "$bip" >"$DIR/bip"
  {
    printf '%s\n' \
      --config-file "$DIR/daemon.json" \
      --data-root "$DATA_ROOT" \
      --exec-root "$EXEC_ROOT" \
      --pidfile "$PID_FILE" \
      -H "unix://$SOCKET" \
      --bridge "$NAME" \
      --iptables=false \
      --ip-masq=false \
      --ip-forward=false \
      --containerd-namespace "$NAME" \
      --containerd-plugins-namespace "$NAME-plugins" \
      --cgroup-parent "/$NAME" \
      --storage-driver overlay2
  } >"$ARGS_FILE"
  launch
  echo "export DOCKER_HOST=unix://$SOCKET" >&3
}

restart() {
  [[ -f "$ARGS_FILE" ]] || { say "no $ARGS_FILE: nothing was started in $DIR"; exit 1; }
  if answers; then
    say "already running"
    return 0
  fi
  launch
}

stop_pid() { # pid-file name timeout
  local pid
  pid="$(cat "$1" 2>/dev/null || true)"
  alive "$pid" "$2" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $(($3 * 4))); do
    alive "$pid" "$2" || return 0
    sleep 0.25
  done
  say "$2 (pid $pid) did not stop in $3 s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do
    alive "$pid" "$2" || return 0
    sleep 0.25
  done
}

stop() {
  if [[ ! -d "$DIR" ]]; then
    return 0
  fi
  # Networks outlive dockerd (their bridges stay): remove containers and networks while it
  # answers; start it again first if it was killed.
  if [[ -f "$ARGS_FILE" ]] && { answers || launch; }; then
    local ids
    ids="$(DOCKER_HOST="unix://$SOCKET" docker ps -aq)"
    if [[ -n "$ids" ]]; then
      # shellcheck disable=SC2086 # one id a word
      DOCKER_HOST="unix://$SOCKET" docker rm -f $ids >/dev/null || true
    fi
    DOCKER_HOST="unix://$SOCKET" docker network prune -f >/dev/null || true
  fi
  # Only what this DIR started: the pid files are under DIR.
  stop_pid "$PID_FILE" dockerd 60
  # dockerd stops its containerd when it exits cleanly; not after a SIGKILL.
  stop_pid "$EXEC_ROOT/containerd/containerd.pid" containerd 20
  # Container processes still alive (only if dockerd could not clean up): they are all in
  # this dockerd's cgroup parent; then their shims (whose command lines name DIR).
  local pid cg
  for pid in $(cat /sys/fs/cgroup/pids/"$NAME"/*/cgroup.procs /sys/fs/cgroup/"$NAME"/*/cgroup.procs 2>/dev/null || true); do
    kill -KILL "$pid" 2>/dev/null || true
  done
  for pid in $(pgrep -f -- "containerd-shim.*$EXEC_ROOT" || true); do
    kill -KILL "$pid" 2>/dev/null || true
  done
  for cg in /sys/fs/cgroup/*/"$NAME" /sys/fs/cgroup/"$NAME"; do
    [[ -d "$cg" ]] || continue
    find "$cg" -depth -mindepth 1 -type d -exec rmdir {} + 2>/dev/null || true
    rmdir "$cg" 2>/dev/null || true
  done
  if ip link show "$NAME" >/dev/null 2>&1; then
    ip link delete "$NAME" || say "cannot delete the bridge $NAME"
  fi
  # Unmount whatever dockerd left mounted under DIR (overlay layers, netns, shm), deepest first.
  local target
  while read -r target; do
    umount "$target" 2>/dev/null || umount -l "$target" 2>/dev/null || say "cannot unmount $target"
  done < <(findmnt -rn -o TARGET | awk -v d="$DIR/" 'index($0, d) == 1' | sort -r)
  # --one-file-system: never descend into something still mounted.
  rm -rf --one-file-system "$DIR"
  if [[ -e "$DIR" ]]; then
    say "could not remove all of $DIR"
    return 1
  fi
  say "stopped and removed $DIR"
}

case "$action" in
  start) start ;;
  restart) restart ;;
  stop) stop ;;
  *) usage ;;
esac
