"""install.sh for real: every path in tmp_path, the API on a free loopback port.

It installs from a snapshot of the checkout in tmp_path (install.sh installs the checkout
it lives in), so a second run sees the same source even while the tree is being edited.

The installer runs twice: the first run installs and starts the controller, the second must
change nothing and leave the same controller running. The real /etc/docker/daemon.json is
never touched (DOCKYARD_DOCKER_DAEMON_JSON points into tmp_path).
"""

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
INSTALL_TIMEOUT = 480
# What install.sh packages: a snapshot of these is what the test installs from.
SOURCE_ITEMS = (
    "install.sh",
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "controller",
    "tui",
    "proxy_templates",
)


def snapshot_checkout(target: Path) -> Path:
    """Copy the checkout's packaged files, so edits made meanwhile do not reach the test."""
    target.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for item in SOURCE_ITEMS:
        source = REPO / item
        if source.is_dir():
            shutil.copytree(source, target / item, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, target / item)
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_pid_file(pid_file: Path, sig: signal.Signals, timeout: float = 15.0) -> None:
    """Signal the process named by pid_file and wait for it to exit (SIGKILL at the end)."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    if not alive(pid):
        return
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)


class Install:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.install_sh = snapshot_checkout(root / "src") / "install.sh"
        self.prefix = root / "opt"
        self.etc = root / "etc"
        self.run_dir = root / "run"
        self.log_dir = root / "log"
        self.bin_dir = root / "bin"
        self.data_dir = root / "data"
        self.daemon_json = root / "docker" / "daemon.json"
        self.listen = f"127.0.0.1:{free_port()}"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            "DOCKYARD_PREFIX": str(self.prefix),
            "DOCKYARD_ETC": str(self.etc),
            "DOCKYARD_RUN_DIR": str(self.run_dir),
            "DOCKYARD_LOG_DIR": str(self.log_dir),
            "DOCKYARD_BIN_DIR": str(self.bin_dir),
            "DOCKYARD_DOCKER_DAEMON_JSON": str(self.daemon_json),
            "DOCKYARD_SYSTEMD": "0",
            "DOCKYARD_DATA_DIR": str(self.data_dir),
            "DOCKYARD_LISTEN": self.listen,
            "DOCKYARD_HTTP_PORT": str(free_port()),
            "DOCKYARD_HTTPS_PORT": str(free_port()),
            "DOCKYARD_PROXY_ADDR": "127.0.0.1",
            # Never the git user's real ~/.ssh/authorized_keys.
            "DOCKYARD_GIT_AUTHORIZED_KEYS": str(root / "ssh" / "authorized_keys"),
        }

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "dockyard.pid"

    def controller_pid(self) -> int:
        return int(self.pid_file.read_text().strip())

    def run(self) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["bash", str(self.install_sh)],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
        )
        assert result.returncode == 0, (
            f"install.sh failed ({result.returncode})\n--- stdout\n{result.stdout}\n"
            f"--- stderr\n{result.stderr}\n--- controller log\n{self.controller_log()}"
        )
        return result

    def controller_log(self) -> str:
        try:
            return (self.log_dir / "dockyard.log").read_text()[-4000:]
        except OSError:
            return "(none)"

    def stop(self) -> None:
        stop_pid_file(self.pid_file, signal.SIGTERM)
        # The data plane outlives the controller: stop the nginx it started too.
        stop_pid_file(self.data_dir / "nginx" / "nginx.pid", signal.SIGQUIT)


@pytest.fixture
def install(tmp_path: Path) -> Iterator[Install]:
    if os.geteuid() != 0:
        pytest.skip("install.sh runs as root")
    inst = Install(tmp_path)
    try:
        yield inst
    finally:
        inst.stop()


def get_json(url: str) -> tuple[int, dict[str, object]]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_install_sh_installs_starts_and_is_idempotent(install: Install) -> None:
    install.daemon_json.parent.mkdir(parents=True)
    install.daemon_json.write_text(json.dumps({"log-driver": "json-file"}))

    first = install.run()
    assert "Done:" in first.stdout

    # The API answers on the configured loopback port.
    status, health = get_json(f"http://{install.listen}/api/v1/health")
    assert status == 200
    assert health["status"] == "ok"

    # Settings: written once, root only, with the values from the environment.
    env_file = install.etc / "dockyard.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    settings = env_file.read_text()
    assert f"DOCKYARD_LISTEN={install.listen}" in settings
    assert f"DOCKYARD_DATA_DIR={install.data_dir}" in settings
    assert f"DOCKYARD_HTTP_PORT={install.env['DOCKYARD_HTTP_PORT']}" in settings
    assert f"DOCKYARD_GIT_AUTHORIZED_KEYS={install.env['DOCKYARD_GIT_AUTHORIZED_KEYS']}" in settings

    # live-restore merged into daemon.json, other keys kept (skipped by a swarm-mode dockerd).
    daemon = json.loads(install.daemon_json.read_text())
    assert daemon["log-driver"] == "json-file"
    if "swarm mode" not in first.stdout:
        assert daemon["live-restore"] is True

    assert install.data_dir.is_dir()
    token = install.data_dir / "admin.token"
    if token.exists():
        assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert (install.bin_dir / "dockyard").resolve() == (install.prefix / "bin" / "dockyard").resolve()

    pid = install.controller_pid()
    assert alive(pid)

    # The installed CLI talks to the installed controller with the admin token.
    cli = subprocess.run(
        [str(install.bin_dir / "dockyard"), "apps", "list"],
        env={
            **install.env,
            "DOCKYARD_URL": f"http://{install.listen}",
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr

    # Second run: nothing to do, same controller.
    second = install.run()
    lines = [line for line in second.stdout.splitlines() if line.strip()]
    assert lines[-1].startswith("Nothing changed"), second.stdout
    assert install.controller_pid() == pid
    assert alive(pid)
    status, _ = get_json(f"http://{install.listen}/api/v1/health")
    assert status == 200
