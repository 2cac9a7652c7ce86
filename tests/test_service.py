"""`dockyard service` against a real controller process (pid-file mode, as without systemd),
and the start-up check that the git user can run DOCKYARD_GIT_EXECUTABLE.

Every path lives in a temp dir the git user can traverse; the controller listens on free
loopback ports and uses its own Docker network, nginx prefix and authorized_keys file.
"""

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from controller.adapters.git_access import find_git_user, home_of, why_user_cannot_run
from controller.cli.service import is_controller, wait_for
from controller.settings import Settings
from controller.wiring_keeper import running_keeper
from tests.conftest import require_root
from tests.e2e.conftest import free_port
from tests.e2e.git_support import traversable_dir
from tests.service_support import alive, service_command

pytestmark = pytest.mark.integration

DOCKYARD = str(Path(sys.executable).parent / "dockyard")
GIT_USER = "dockyard"


def _git_executable() -> str:
    executable = os.environ.get("DOCKYARD_TEST_GIT_EXECUTABLE")
    if not executable:
        pytest.fail('DOCKYARD_TEST_GIT_EXECUTABLE is not set: eval "$(scripts/setup-testbed.sh)" first')
    return executable


@dataclass
class Service:
    root: Path
    api_port: int

    @property
    def pid_file(self) -> Path:
        return self.root / "run" / "dockyard.pid"

    @property
    def env_file(self) -> Path:
        return self.root / "etc" / "dockyard.env"

    @property
    def log_file(self) -> Path:
        return self.root / "log" / "dockyard.log"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def write_env(self, **overrides: str) -> None:
        settings = {
            "DOCKYARD_DATA_DIR": str(self.data_dir),
            "DOCKYARD_LISTEN": f"127.0.0.1:{self.api_port}",
            "DOCKYARD_HTTP_PORT": str(free_port()),
            "DOCKYARD_HTTPS_PORT": str(free_port()),
            "DOCKYARD_PROXY_ADDR": "127.0.0.1",
            "DOCKYARD_ADMIN_TOKEN": "service-test-token-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEF",
            "DOCKYARD_DOCKER_NETWORK": f"dockyard-svc-{self.root.name}",
            "DOCKYARD_GIT_AUTHORIZED_KEYS": str(self.root / "authorized_keys"),
            "DOCKYARD_GIT_EXECUTABLE": _git_executable(),
            **overrides,
        }
        # The controller starts with the env file only (a clean environment, like systemd's).
        if os.environ.get("DOCKER_HOST"):
            settings["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
        self.env_file.parent.mkdir(parents=True, exist_ok=True)
        self.env_file.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            service_command(
                DOCKYARD, *args, pid_file=self.pid_file, env_file=self.env_file, log_file=self.log_file
            ),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def pid(self) -> int:
        return int(self.pid_file.read_text().strip())

    def healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.api_port}/api/v1/health", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def cleanup(self) -> None:
        import docker

        try:
            pid = self.pid()
        except (OSError, ValueError):
            pid = 0
        if pid and is_controller(pid):
            os.kill(pid, signal.SIGKILL)
        keeper = running_keeper(self.data_dir)
        if keeper is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(keeper, signal.SIGKILL)
        with contextlib.suppress(OSError, ValueError):
            os.kill(int((self.data_dir / "nginx" / "nginx.pid").read_text()), signal.SIGQUIT)
        client = docker.from_env()
        if self.data_dir.exists():
            label = f"io.dockyard.instance={Settings(data_dir=self.data_dir).instance}"
            for container in client.containers.list(all=True, filters={"label": label}):
                container.remove(force=True)
        for network in client.networks.list(names=[f"dockyard-svc-{self.root.name}"]):
            network.remove()
        client.close()


@pytest.fixture
def service() -> Iterator[Service]:
    require_root("runs the controller as root with the git user")
    # Outside pytest's 0700 tree: the git user must reach the data dir's repos.
    with traversable_dir("dockyard-svc-") as root:
        svc = Service(root=root, api_port=free_port())
        try:
            yield svc
        finally:
            svc.cleanup()


def test_service_status_start_stop_restart_with_a_pid_file(service: Service) -> None:
    service.write_env()

    status = service.run("status")
    assert status.returncode == 3, status.stdout + status.stderr
    assert "not running" in status.stdout

    started = service.run("start")
    assert started.returncode == 0, started.stdout + started.stderr + service.log_file.read_text()[-3000:]
    pid = service.pid()
    assert f"started (pid {pid}" in started.stdout
    assert service.healthy()
    # `dockyard serve` started the keeper, detached: it survives the controller until `stop`.
    assert wait_for(lambda: running_keeper(service.data_dir) is not None, 30), service.log_file.read_text()

    status = service.run("status")
    assert status.returncode == 0, status.stderr
    assert f"running (pid {pid})" in status.stdout and "answers" in status.stdout

    again = service.run("start")
    assert again.returncode == 0 and f"already running (pid {pid})" in again.stdout
    assert service.pid() == pid

    restarted = service.run("restart")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    new_pid = service.pid()
    assert new_pid != pid and not alive(pid)
    assert f"restarted (pid {new_pid}, was {pid}" in restarted.stdout
    assert service.healthy()

    assert wait_for(lambda: running_keeper(service.data_dir) is not None, 30)
    keeper_pid = running_keeper(service.data_dir)
    stopped = service.run("stop")
    assert stopped.returncode == 0 and f"stopped (pid {new_pid})" in stopped.stdout
    assert f"keeper (pid {keeper_pid}) stopped" in stopped.stdout
    assert running_keeper(service.data_dir) is None
    assert not alive(new_pid)
    assert not service.pid_file.exists()
    assert not service.healthy()

    assert "not running" in service.run("stop").stdout
    assert service.run("status").returncode == 3


def test_service_status_ignores_a_recycled_pid(service: Service) -> None:
    """A pid file naming a live process that is not the controller means "not running"."""
    service.write_env()
    service.pid_file.parent.mkdir(parents=True)
    service.pid_file.write_text(f"{os.getpid()}\n")
    status = service.run("status")
    assert status.returncode == 3 and "stale pid file" in status.stdout
    assert "not running" in service.run("stop").stdout
    assert alive(os.getpid())


def _unreachable_copy(base: Path) -> str:
    """A `dockyard` in a 0700 dir of root's, like a virtualenv under /root."""
    private = base / "private"
    private.mkdir(mode=0o700)
    wrapper = private / "dockyard"
    wrapper.write_text(f'#!/bin/sh\nexec {_git_executable()} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def test_the_controller_refuses_to_start_when_the_git_user_cannot_run_dockyard(service: Service) -> None:
    executable = _unreachable_copy(service.root)
    service.write_env(DOCKYARD_GIT_EXECUTABLE=executable)

    started = service.run("start")

    assert started.returncode == 1
    assert "exited" in started.stderr
    assert f"the git user 'dockyard' cannot run {executable} (Permission denied)" in started.stderr
    assert "DOCKYARD_GIT_EXECUTABLE" in started.stderr
    assert not service.healthy()
    assert not service.pid_file.exists()


def test_why_the_git_user_cannot_run_an_executable(service: Service) -> None:
    owner = find_git_user(GIT_USER)
    assert owner is not None, "run scripts/setup-git-testbed.sh first"
    home = home_of(GIT_USER)
    assert why_user_cannot_run(owner, _git_executable(), home=home) is None
    assert why_user_cannot_run(owner, _unreachable_copy(service.root), home=home) == "Permission denied"
    assert why_user_cannot_run(owner, str(service.root / "missing"), home=home) == "No such file or directory"
    failing = service.root / "failing"
    failing.write_text("#!/bin/sh\necho 'broken install' >&2\nexit 2\n")
    failing.chmod(0o755)
    assert why_user_cannot_run(owner, str(failing), home=home) == "broken install"
