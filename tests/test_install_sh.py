"""install.sh for real: every path in tmp_path, the API on a free loopback port.

It installs from a snapshot of the checkout in tmp_path (install.sh installs the checkout
it lives in), so a second run sees the same source even while the tree is being edited.

The installer runs twice: the first run installs and starts the controller, the second must
change nothing and leave the same controller running. The real /etc/docker/daemon.json,
/etc/cron.d and the system's sshd are never touched (their paths point into the test's dir,
and the sshd it starts has its own config, port and host key).

Everything lives in a dir the git user can traverse: the controller refuses to start when
that user cannot run the installed `dockyard` (under pytest's 0700 tmp_path it could not).
"""

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_root
from tests.e2e.git_support import traversable_dir
from tests.service_support import alive, service_command

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
INSTALL_TIMEOUT = 480
# What install.sh packages: a snapshot of these is what the test installs from.
SOURCE_ITEMS = (
    "install.sh",
    "pyproject.toml",
    "constraints.txt",
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
        self.cron_file = root / "cron.d" / "dockyard"
        self.sshd_config = root / "sshd" / "sshd_config"
        self.sshd_port = free_port()
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
            "DOCKYARD_CRON_FILE": str(self.cron_file),
            "DOCKYARD_SSHD_CONFIG": str(self.sshd_config),
        }
        # The Docker the tests use (scripts/test.sh's own); install.sh writes it to the env file.
        self.env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
        self._write_sshd_config()

    def _write_sshd_config(self) -> None:
        directory = self.sshd_config.parent
        directory.mkdir(parents=True)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(directory / "host_key")], check=True
        )
        self.sshd_config.write_text(
            f"Port {self.sshd_port}\nListenAddress 127.0.0.1\nHostKey {directory / 'host_key'}\n"
            f"PidFile {directory / 'sshd.pid'}\nUsePAM no\n"
        )

    def service(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The installed `dockyard service ...` with this install's paths."""
        return subprocess.run(
            service_command(
                str(self.bin_dir / "dockyard"),
                *args,
                pid_file=self.pid_file,
                env_file=self.etc / "dockyard.env",
                log_file=self.log_dir / "dockyard.log",
            ),
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )

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
        stop_pid_file(self.sshd_config.parent / "sshd.pid", signal.SIGTERM)


@pytest.fixture
def install() -> Iterator[Install]:
    require_root("install.sh runs as root")
    if not os.environ.get("DOCKER_HOST"):
        # install.sh starts the machine's dockerd when none answers, and nothing here would
        # stop it: the test runs against the suite's own dockerd (scripts/test.sh sets it).
        pytest.fail("DOCKER_HOST is not set: run through scripts/test.sh (the suite's own dockerd)")
    with traversable_dir("dockyard-install-") as root:
        inst = Install(root)
        try:
            yield inst
        finally:
            inst.stop()


def ssh_banner(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        return sock.recv(64)


def get_json(url: str) -> tuple[int, dict[str, object]]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, json.loads(response.read())


def login(listen: str, user: str, password: str) -> int:
    """POST /api/v1/session with a user's password: the status."""
    request = urllib.request.Request(
        f"http://{listen}/api/v1/session",
        data=json.dumps({"user": user, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def files_holding(root: Path, secret: bytes) -> list[Path]:
    """Files under root whose bytes contain secret."""
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if secret in path.read_bytes():
                    found.append(path)
            except OSError:
                continue
    return found


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

    # The first admin user: its random password printed once, at the end, with the login URL;
    # it logs in, and no file of the install holds it (the database has its argon2 hash).
    assert f"log in at http://{install.listen}/login" in first.stdout
    found = re.search(
        r"^Log in at (\S+) as the admin user.*\n\s+user:\s+(\S+)\n\s+password:\s+(\S+)$", first.stdout, re.M
    )
    assert found, first.stdout
    login_url, user, password = found.groups()
    assert login_url == f"http://{install.listen}/login"
    assert user == "admin"
    assert len(password) >= 16
    assert first.stdout.count(password) == 1
    assert password not in first.stderr
    assert login(install.listen, "admin", password) == 200
    for directory in (install.etc, install.data_dir, install.log_dir, install.run_dir):
        assert files_holding(directory, password.encode()) == []

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

    # Without systemd: sshd runs (git push over SSH) and an @reboot entry starts the controller.
    assert ssh_banner(install.sshd_port).startswith(b"SSH-2.0-")
    cron = install.cron_file.read_text()
    assert "@reboot root " in cron
    assert (
        f"{install.prefix}/bin/dockyard service start --manager pidfile --pid-file {install.pid_file}" in cron
    )

    # Second run: nothing to do, same controller.
    second = install.run()
    lines = [line for line in second.stdout.splitlines() if line.strip()]
    assert lines[-1].startswith("Nothing changed"), second.stdout
    # The admin user is kept as it is: no new password, the first one still logs in.
    assert "already user admin exists" in second.stdout
    assert "password:" not in second.stdout
    assert login(install.listen, "admin", password) == 200
    assert install.controller_pid() == pid
    assert alive(pid)
    status, _ = get_json(f"http://{install.listen}/api/v1/health")
    assert status == 200

    # `dockyard service` operates the installed controller.
    status_line = install.service("status")
    assert status_line.returncode == 0 and f"running (pid {pid})" in status_line.stdout
    restarted = install.service("restart")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr + install.controller_log()
    assert not alive(pid)
    pid = install.controller_pid()
    assert get_json(f"http://{install.listen}/api/v1/health")[0] == 200

    # A controller that died leaves a stale pid file: install.sh starts it again, quietly.
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    third = install.run()
    assert "started the controller" in third.stdout
    assert "No such file or directory" not in third.stderr, third.stderr
    assert alive(install.controller_pid())

    # Once an admin revoked the bootstrap token, a re-run still succeeds and adds no one.
    token_secret = (install.data_dir / "admin.token").read_text().strip()
    revoke = urllib.request.Request(
        f"http://{install.listen}/api/v1/tokens/bootstrap-admin",
        headers={"Authorization": f"Bearer {token_secret}"},
        method="DELETE",
    )
    with urllib.request.urlopen(revoke, timeout=30) as response:
        assert response.status == 200
    fourth = install.run()
    assert "skipped: the bootstrap admin token" in fourth.stdout, fourth.stdout
    assert "password:" not in fourth.stdout
    assert login(install.listen, "admin", password) == 200
