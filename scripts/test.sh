#!/usr/bin/env bash
# Dockyard's test command: sets up the testbed, then runs every check and prints a summary.
#
#   scripts/test.sh                 lint (ruff, mypy, import-linter) + quick tier + integration tier
#   scripts/test.sh --quick         lint + quick tier only (no dockerd / PostgreSQL needed)
#   scripts/test.sh -k nginx -x     extra arguments go to every pytest tier
#   scripts/test.sh --only integration-tier,dockerd-restart    only these steps (names as in
#                                   the summary: lint, quick-tier, integration-tier, browser-tier,
#                                   dockerd-restart)
#
# It never touches the machine's own Docker or PostgreSQL. Everything it starts lives in one
# run dir (/tmp/dockyard-test.XXXXXX, or under /var/tmp when /tmp is a tmpfs) and is stopped
# and removed when it exits, also on failure or Ctrl-C (and, should a run be killed before
# its teardown, by the next run):
#   - a private dockerd (scripts/test-dockerd.sh: own socket, data root, exec root,
#     containerd, bridge; every integration test reaches it through DOCKER_HOST, and the
#     dockerd-restart test kills and restarts only it),
#   - a PostgreSQL cluster on a free loopback port (unless DOCKYARD_TEST_POSTGRES_URL is set).
# What it leaves: the Debian packages it installed, the project's .venv, the git user
# `dockyard`, /run/sshd and (only when the git user cannot run .venv/bin/dockyard) a venv
# it can run, kept as a cache in ${DOCKYARD_GIT_TESTBED_VENV:-/tmp/dockyard-git-testbed}.
#
# Every step runs even when an earlier one failed; the exit status is non-zero when any
# step failed. A pytest tier that collects no tests (exit 5) fails.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1

export PYTHONUNBUFFERED=1
# Tests that need root (sshd, the git user, install.sh) fail rather than skip in this command.
export DOCKYARD_REQUIRE_ROOT=1
# What a calling run started is not ours to stop (a nested run, e.g. tests/test_test_sh.py).
unset DOCKYARD_TEST_PG_STARTED DOCKYARD_TEST_DOCKERD_DIR

quick=0
only=""
pytest_args=()
expect_only=0
for arg in "$@"; do
  if ((expect_only)); then
    only="$arg"
    expect_only=0
    continue
  fi
  case "$arg" in
    --quick) quick=1 ;;
    --only) expect_only=1 ;;
    --only=*) only="${arg#--only=}" ;;
    *) pytest_args+=("$arg") ;;
  esac
done

# wanted STEP: whether --only (if given) names it
wanted() {
  [[ -z "$only" || ",$only," == *",$1,"* ]]
}

step_names=()
step_results=()
step_seconds=()
failed=0

record() { # name status seconds
  step_names+=("$1")
  step_results+=("$2")
  step_seconds+=("$3")
  if [[ "$2" == FAIL* ]]; then
    failed=1
  fi
}

banner() {
  printf '\n===== %s =====\n' "$*"
}

# run_step NAME CMD...: run, record pass/fail
run_step() {
  local name="$1" start rc
  shift
  banner "$name: $*"
  start=$SECONDS
  "$@"
  rc=$?
  if ((rc == 0)); then
    record "$name" PASS $((SECONDS - start))
  else
    echo "[$name] exit code $rc"
    record "$name" FAIL $((SECONDS - start))
  fi
}

# --- the run dir and its teardown --------------------------------------------------------------
run_root="${DOCKYARD_TEST_RUN_ROOT:-}"
if [[ -z "$run_root" ]]; then
  # overlay2 (the private dockerd's data root) needs a disk filesystem, not tmpfs or overlay.
  for candidate in "${TMPDIR:-/tmp}" /var/tmp; do
    case "$(stat -f -c %T "$candidate" 2>/dev/null)" in
      "" | tmpfs | overlayfs | overlay) ;;
      *) run_root="$candidate" && break ;;
    esac
  done
  run_root="${run_root:-/var/tmp}"
fi
# remove_run DIR [PG_DIR...]: stop what a run started in DIR (its private dockerd, its
# PostgreSQL, and the clusters in PG_DIRs), then remove DIR.
remove_run() {
  local dir="$1" pg_dir
  shift
  bash "$ROOT/scripts/test-dockerd.sh" stop "$dir/dockerd" ||
    echo "teardown: the private dockerd in $dir/dockerd was not fully removed"
  for pg_dir in "$dir/pg" "$@"; do
    if [[ -f "$pg_dir/data/postmaster.pid" ]]; then
      bash "$ROOT/scripts/setup-testbed.sh" --stop-postgres "$pg_dir" ||
        echo "teardown: could not stop PostgreSQL in $pg_dir"
    fi
  done
  rm -rf --one-file-system "$dir"
  if [[ -e "$dir" ]]; then
    echo "teardown: could not remove $dir"
  else
    echo "teardown: removed $dir"
  fi
}

# A run killed before its teardown (SIGKILL, a crash) left its run dir and what runs in it:
# finish that run's teardown, once its test.sh (the pid in `owner`) is gone.
for stale in "$run_root"/dockyard-test.*; do
  owner="$(cat "$stale/owner" 2>/dev/null || true)"
  [[ "$owner" =~ ^[0-9]+$ ]] || continue
  if { tr '\0' ' ' <"/proc/$owner/cmdline"; } 2>/dev/null | grep -q 'test\.sh'; then
    continue # still running
  fi
  banner "reclaiming $stale: its run (pid $owner) ended without its teardown"
  remove_run "$stale"
done

RUN_DIR="$(mktemp -d "$run_root/dockyard-test.XXXXXX")" || exit 1
echo "$$" >"$RUN_DIR/owner"
chmod 711 "$RUN_DIR" # the git user traverses it to reach the tests' data dirs
JUNIT_DIR="$RUN_DIR/junit"
mkdir -p "$JUNIT_DIR"
echo "run dir: $RUN_DIR"

teardown() {
  banner "teardown: what this run started"
  # Only a cluster this run started: the one in the run dir, or one setup-testbed.sh says it
  # started elsewhere (DOCKYARD_TEST_PG_DIR given); never one it found running and reused.
  local extra=()
  if [[ -n "${DOCKYARD_TEST_PG_STARTED:-}" && "$DOCKYARD_TEST_PG_STARTED" != "$RUN_DIR/pg" ]]; then
    extra+=("$DOCKYARD_TEST_PG_STARTED")
  fi
  remove_run "$RUN_DIR" "${extra[@]}"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_pytest NAME PYTEST-ARGS...: like run_step; exit 5 (no tests collected) is a failure.
run_pytest() {
  local name="$1" start rc
  shift
  banner "$name: pytest $*"
  start=$SECONDS
  python -m pytest --junitxml="$JUNIT_DIR/$name.xml" "$@"
  rc=$?
  if ((rc == 0)); then
    record "$name" PASS $((SECONDS - start))
  elif ((rc == 5)); then
    echo "[$name] no tests collected (exit 5): a tier that runs nothing fails"
    record "$name" "FAIL (no tests)" $((SECONDS - start))
  else
    echo "[$name] exit code $rc"
    record "$name" FAIL $((SECONDS - start))
  fi
}

# --- testbed ---------------------------------------------------------------------------------
banner "setup: scripts/setup-testbed.sh"
start=$SECONDS
setup_args=()
if ((quick)) || ! { wanted integration-tier || wanted browser-tier || wanted dockerd-restart; }; then
  setup_args+=(--no-services)
else
  # The run's own dockerd and (unless one is given) PostgreSQL cluster, both in the run dir.
  setup_args+=(--private-dockerd "$RUN_DIR/dockerd")
  if [[ -z "${DOCKYARD_TEST_POSTGRES_URL:-}" ]]; then
    export DOCKYARD_TEST_PG_DIR="$RUN_DIR/pg"
  fi
fi
if [[ " ${setup_args[*]} " == *" --private-dockerd "* ]]; then
  export DOCKYARD_TEST_DOCKERD_DIR="$RUN_DIR/dockerd" # the dockerd-restart test's
fi
setup_env="$(bash "$ROOT/scripts/setup-testbed.sh" "${setup_args[@]}")"
setup_rc=$?
# Its stdout is `export` lines only: take them even after a failure (what it started).
eval "$setup_env"
if ((setup_rc == 0)); then
  record setup PASS $((SECONDS - start))
else
  record setup FAIL $((SECONDS - start))
fi

if [[ -x "$ROOT/.venv/bin/python" ]]; then
  export VIRTUAL_ENV="$ROOT/.venv"
  export PATH="$VIRTUAL_ENV/bin:$PATH"
else
  echo "no venv at $ROOT/.venv: the remaining steps cannot run"
fi

# --- lint ------------------------------------------------------------------------------------
if wanted lint; then
  run_step ruff ruff check .
  run_step mypy mypy
  run_step import-linter lint-imports
fi

# --- tests -----------------------------------------------------------------------------------
if wanted quick-tier; then
  # On every core: these tests share nothing (own tmp dirs, free ports, fakes for Docker).
  run_pytest quick-tier -n auto -m "not integration and not browser" "${pytest_args[@]}"
fi

if ((quick == 0)) && [[ -n "${DOCKYARD_TEST_DOCKERD_DIR:-}" ]]; then
  echo "Docker for the tests: $DOCKER_HOST (private; the machine's dockerd is not used)"
fi
if ((quick == 0)) && wanted integration-tier; then
  export DOCKYARD_REQUIRE_POSTGRES=1
  if [[ -z "${DOCKYARD_TEST_POSTGRES_URL:-}" ]]; then
    echo "DOCKYARD_TEST_POSTGRES_URL is not set (setup failed?): PostgreSQL tests will fail"
  fi
  run_pytest integration-tier -m "integration and not browser" "${pytest_args[@]}"
fi
if ((quick == 0)) && wanted browser-tier; then
  # --- browser tier (Playwright + Debian chromium, a real controller) --------------------
  # Its own pytest invocation: Playwright's sync API breaks Textual tests in the same
  # process (TESTBED.md).
  run_pytest browser-tier -m browser "${pytest_args[@]}"
fi
if ((quick == 0)) && wanted dockerd-restart; then
  # --- dockerd restart: last, because it kills the run's PRIVATE dockerd (SIGKILL, by its
  # pid file in the run dir) and starts it again with the same arguments, without
  # live-restore, which stops every container of the tiers above. Never the machine's.
  DOCKYARD_TEST_KILL_DOCKERD=1 run_pytest dockerd-restart \
    "tests/e2e/test_queue.py::test_apps_come_back_after_dockerd_is_killed_without_live_restore"
fi

# --- summary ---------------------------------------------------------------------------------
banner summary
printf '%-20s %-16s %8s\n' STEP RESULT SECONDS
for i in "${!step_names[@]}"; do
  printf '%-20s %-16s %8s\n' "${step_names[$i]}" "${step_results[$i]}" "${step_seconds[$i]}"
done

if ((failed)); then
  echo "FAILED: at least one step failed"
else
  echo "OK: all steps passed"
fi

# The closing line: test counts of all pytest tiers together.
python3 - "$JUNIT_DIR" <<'EOF' || true
import glob, sys
import xml.etree.ElementTree as ET

total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
for path in glob.glob(sys.argv[1] + "/*.xml"):
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    for suite in suites:
        for key in total:
            total[key] += int(suite.get(key, 0))
failed = total["failures"] + total["errors"]
passed = total["tests"] - failed - total["skipped"]
print(f"tests: {passed} passed, {failed} failed, {total['skipped']} skipped")
EOF

exit "$failed"
