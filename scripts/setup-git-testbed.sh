#!/usr/bin/env bash
# Prepare this machine for the git-push tests: git and openssh-server, the git user (unlocked
# for key logins, like install.sh makes it), sshd's privilege-separation dir, and a `dockyard`
# executable that the git user can run (sshd's forced command and the pre-receive hook run as
# that user). Idempotent: on a warm machine it takes well under a second.
#
# Usage: scripts/setup-git-testbed.sh
#
# Progress goes to stderr. stdout carries only `export NAME=value` lines, so a caller can do
#   eval "$(scripts/setup-git-testbed.sh)"
# Exported: DOCKYARD_TEST_GIT_EXECUTABLE and DOCKYARD_GIT_EXECUTABLE (the `dockyard` the git
# user runs in the tests).
#
# Tunables (env): DOCKYARD_GIT_USER (default dockyard),
#   DOCKYARD_GIT_TESTBED_VENV (default /tmp/dockyard-git-testbed), used only when the git user
#   cannot run the project's own .venv/bin/dockyard (its interpreter or the checkout is not
#   readable by other users, e.g. a pyenv Python under /root).
set -euo pipefail

# Keep stdout for the export lines only.
exec 3>&1 1>&2

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GIT_USER="${DOCKYARD_GIT_USER:-dockyard}"
GIT_VENV="${DOCKYARD_GIT_TESTBED_VENV:-/tmp/dockyard-git-testbed}"

say() { echo "setup-git-testbed: $*"; }

if [[ "$(id -u)" != 0 ]]; then
  say "must run as root (apt-get, useradd)"
  exit 1
fi

# --- Debian packages ---------------------------------------------------------------------
PACKAGES=(git openssh-server python3-venv)
missing=()
installed="$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)"
for pkg in "${PACKAGES[@]}"; do
  grep -qx "$pkg installed" <<<"$installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi

# --- the git user ------------------------------------------------------------------------
# A system user with a real shell (sshd runs forced commands through it) and a home; useradd
# leaves it locked ('!' in /etc/shadow), and sshd refuses key logins of locked users, so
# its password is set to '*': no password can match, keys work.
if ! id -u "$GIT_USER" >/dev/null 2>&1; then
  say "creating the git user $GIT_USER"
  useradd --system --user-group --create-home --home-dir "/home/$GIT_USER" --shell /bin/sh "$GIT_USER"
fi
if [[ "$(getent shadow "$GIT_USER" | cut -d: -f2)" == '!'* ]]; then
  say "unlocking $GIT_USER for key logins"
  usermod -p '*' "$GIT_USER"
fi

# sshd's privilege-separation directory (systemd would create it).
mkdir -p /run/sshd
chmod 0755 /run/sshd

# --- a dockyard executable the git user can run ------------------------------------------
as_git() { runuser -u "$GIT_USER" -- "$@"; }

executable=""
if as_git "$ROOT/.venv/bin/dockyard" --version >/dev/null 2>&1; then
  executable="$ROOT/.venv/bin/dockyard"
else
  # The git user can read the checkout: an editable install follows the sources. Otherwise
  # copy the project in, again whenever its sources change.
  if as_git test -r "$ROOT/controller/__init__.py"; then
    mode=editable
    want_stamp="$( { sha256sum "$ROOT/pyproject.toml" "$ROOT/constraints.txt"; echo "$ROOT editable"; } | sha256sum | cut -d' ' -f1)"
  else
    mode=copy
    want_stamp="$(
      cd "$ROOT" && find pyproject.toml constraints.txt controller proxy_templates -type f \
        \( -name '*.py' -o -name '*.toml' -o -name '*.j2' -o -name '*.mako' \) -print0 \
        | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
    )"
  fi
  stamp="$GIT_VENV/.dockyard-install-stamp"
  if [[ ! -x "$GIT_VENV/bin/python" ]]; then
    say "creating $GIT_VENV with /usr/bin/python3 (the git user cannot run $ROOT/.venv)"
    /usr/bin/python3 -m venv "$GIT_VENV"
  fi
  if [[ "$(cat "$stamp" 2>/dev/null || true)" != "$want_stamp" ]]; then
    say "installing dockyard into $GIT_VENV ($mode)"
    if [[ "$mode" == editable ]]; then
      "$GIT_VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q -c "$ROOT/constraints.txt" -e "$ROOT"
    else
      build="$(mktemp -d)"
      trap 'rm -rf "$build"' EXIT
      (cd "$ROOT" && tar -c pyproject.toml README.md controller proxy_templates tui) | tar -x -C "$build"
      # Dependencies as needed, then the project itself anew (its version does not change).
      "$GIT_VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q \
        -c "$ROOT/constraints.txt" "$build"
      "$GIT_VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q \
        --no-deps --force-reinstall --no-cache-dir "$build"
    fi
    echo "$want_stamp" >"$stamp"
  fi
  chmod -R go+rX "$GIT_VENV"
  executable="$GIT_VENV/bin/dockyard"
  if ! as_git "$executable" --version >/dev/null 2>&1; then
    say "the git user $GIT_USER cannot run $executable"
    exit 1
  fi
fi
say "the git user runs $executable"
echo "export DOCKYARD_TEST_GIT_EXECUTABLE=$executable" >&3
# Also as the controller's own setting: a controller refuses to start when the git user cannot
# run its DOCKYARD_GIT_EXECUTABLE, so every controller a test starts gets this one by default.
echo "export DOCKYARD_GIT_EXECUTABLE=$executable" >&3
