"""scripts/test.sh for real: what it starts it stops and removes, and never the machine's own
Docker or PostgreSQL; a tier that collects no tests fails.

The full run here is `--only dockerd-restart`: setup starts a private dockerd and a PostgreSQL
cluster (on a free port, under a run root of the test's own), the dockerd-restart test
SIGKILLs and restarts that private dockerd, then the teardown must leave nothing behind.
"""

import hashlib
import os
import re
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_root
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
TEST_SH = ROOT / "scripts" / "test.sh"
# A calling run's own values must not reach the nested run (it makes its own).
INHERITED = (
    "DOCKER_HOST",
    "DOCKYARD_TEST_POSTGRES_URL",
    "DOCKYARD_TEST_PG_DIR",
    "DOCKYARD_TEST_PG_STARTED",
    "DOCKYARD_TEST_DOCKERD_DIR",
    "DOCKYARD_TEST_KILL_DOCKERD",
    "DOCKYARD_REQUIRE_POSTGRES",
    "PYTEST_CURRENT_TEST",
    "PYTEST_ADDOPTS",
)


@pytest.fixture
def run_root() -> Iterator[Path]:
    require_root("scripts/test.sh runs as root")
    root = Path(tempfile.mkdtemp(prefix="dockyard-test-sh-", dir="/tmp"))
    root.chmod(0o711)
    try:
        yield root
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", str(root)], check=False)


def run_test_sh(run_root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key not in INHERITED}
    environment.update(DOCKYARD_TEST_RUN_ROOT=str(run_root), **env)
    return subprocess.run(
        ["bash", str(TEST_SH), *args],
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
    )


def postmasters() -> dict[int, str]:
    """Every running postgres postmaster: pid -> command line."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"/bin/postgres"):
            found[int(proc.name)] = b" ".join(argv).decode(errors="replace")
    return found


def processes_mentioning(text: str) -> list[str]:
    result = subprocess.run(["pgrep", "-af", "--", text], capture_output=True, text=True)
    return [line for line in result.stdout.splitlines() if "pgrep" not in line]


def system_dockerd_pid() -> int | None:
    try:
        pid = int(Path("/var/run/docker.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0


def test_a_full_run_stops_and_removes_what_it_started_and_nothing_else(run_root: Path) -> None:
    dockerd_before = system_dockerd_pid()
    docker0_before = link_exists("docker0")
    # Other private dockerds' bridges (the calling run's, a developer's): every such run's dir
    # ends in `dockerd`, and their bridges must not be taken for this run's.
    bridges_before = [name for name in os.listdir("/sys/class/net") if name.startswith("dyt")]
    postmasters_before = postmasters()
    pg_port = free_port()

    result = run_test_sh(run_root, "--only", "dockerd-restart", DOCKYARD_TEST_PG_PORT=str(pg_port))
    output = result.stdout + result.stderr

    assert result.returncode == 0, output[-6000:]
    assert re.search(r"^dockerd-restart\s+PASS", result.stdout, re.MULTILINE), output[-4000:]
    assert "tests: 1 passed, 0 failed, 0 skipped" in result.stdout  # it ran, not skipped
    match = re.search(r"^run dir: (\S+)$", result.stdout, re.MULTILINE)
    assert match, output[-4000:]
    run_dir = match.group(1)
    assert run_dir.startswith(f"{run_root}/dockyard-test.")
    # The tests ran against the run's own dockerd and PostgreSQL.
    assert f"Docker for the tests: unix://{run_dir}/dockerd/docker.sock" in result.stdout
    assert f"starting PostgreSQL on 127.0.0.1:{pg_port}" in result.stderr

    # All of it is gone: processes, mounts, the bridge, the run dir.
    assert processes_mentioning(run_dir) == []
    mounts = Path("/proc/self/mounts").read_text()
    assert run_dir not in mounts
    bridge = "dyt" + hashlib.sha256(f"{run_dir}/dockerd".encode()).hexdigest()[:10]
    assert not link_exists(bridge)
    assert [name for name in bridges_before if not link_exists(name)] == []
    assert not Path(run_dir).exists()
    assert os.listdir(run_root) == []
    # Clusters that ran before (the machine's or another run's) still run.
    for pid, command in postmasters_before.items():
        assert Path(f"/proc/{pid}").exists(), f"stopped: {command}"

    # The machine's own dockerd was neither killed nor restarted, and kept its bridge.
    if dockerd_before is not None:
        assert system_dockerd_pid() == dockerd_before
    if docker0_before:
        assert link_exists("docker0")


def test_a_tier_that_collects_no_tests_fails(run_root: Path) -> None:
    result = run_test_sh(run_root, "--quick", "--only", "quick-tier", "-k", "no_test_has_this_name_zz")
    assert result.returncode == 1, result.stdout[-3000:]
    assert re.search(r"^quick-tier\s+FAIL \(no tests\)", result.stdout, re.MULTILINE), result.stdout[-3000:]
    assert os.listdir(run_root) == []


def test_a_run_killed_before_its_teardown_is_cleaned_up_by_the_next(run_root: Path) -> None:
    environment = {key: value for key, value in os.environ.items() if key not in INHERITED}
    environment.update(DOCKYARD_TEST_RUN_ROOT=str(run_root), DOCKYARD_TEST_PG_PORT=str(free_port()))
    # Killed while it lints, after setup started its services (lint starts no processes that
    # would outlive it; the tier's -k selects nothing, should it get that far).
    killed = subprocess.Popen(
        ["bash", str(TEST_SH), "--only", "lint,integration-tier", "-k", "no_test_has_this_name_zz"],
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    assert killed.stdout is not None
    run_dir = ""
    for line in killed.stdout:
        if line.startswith("run dir: "):
            run_dir = line.split(": ", 1)[1].strip()
        if line.startswith("===== ruff"):
            break
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(30)
    killed.stdout.close()
    assert run_dir, "the run never said its run dir"
    dockerd_pid = int((Path(run_dir) / "dockerd" / "docker.pid").read_text())
    assert Path(f"/proc/{dockerd_pid}").exists()  # left running by the killed run
    assert processes_mentioning(f"{run_dir}/pg")  # its PostgreSQL too

    result = run_test_sh(run_root, "--quick", "--only", "none")

    assert result.returncode == 0, result.stdout[-3000:]
    assert f"reclaiming {run_dir}: its run (pid {killed.pid}) ended without its teardown" in result.stdout
    assert processes_mentioning(run_dir) == []
    assert run_dir not in Path("/proc/self/mounts").read_text()
    assert not Path(run_dir).exists()
    assert os.listdir(run_root) == []
