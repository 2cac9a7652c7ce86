"""A real controller (`dockyard serve`) on loopback ports, driven through the real CLI.

Each controller gets its own data dir, so its own instance id, Docker network and
nginx prefix; teardown removes exactly what it created.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from controller.settings import Settings
from controller.wiring_keeper import running_keeper

TOKEN = "e2e-test-token-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ"  # 32+ bytes of entropy
BASE_DOMAIN = "apps.test"
DOCKYARD = str(Path(sys.executable).parent / "dockyard")


def _git_executable_env() -> dict[str, str]:
    """The `dockyard` the git user can run (scripts/setup-git-testbed.sh finds or makes it)."""
    executable = os.environ.get("DOCKYARD_TEST_GIT_EXECUTABLE")
    return {"DOCKYARD_GIT_EXECUTABLE": executable} if executable else {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Controller:
    """A running `dockyard serve` and the means to drive it like a user would."""

    data_dir: Path
    api_port: int
    http_port: int
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DOCKYARD_DATA_DIR": str(self.data_dir),
            "DOCKYARD_LISTEN": f"127.0.0.1:{self.api_port}",
            "DOCKYARD_PROXY_ADDR": "127.0.0.1",
            "DOCKYARD_HTTP_PORT": str(self.http_port),
            "DOCKYARD_BASE_DOMAIN": BASE_DOMAIN,
            "DOCKYARD_ADMIN_TOKEN": TOKEN,
            "DOCKYARD_URL": self.url,
            "DOCKYARD_TOKEN": TOKEN,
            "DOCKYARD_DOCKER_NETWORK": f"dockyard-e2e-{self.instance}",
            "DOCKYARD_HEALTH_TIMEOUT": "8",
            "DOCKYARD_DRAIN_TIMEOUT": "10",
            "DOCKYARD_STOP_TIMEOUT": "3",
            # Never the git user's real ~/.ssh/authorized_keys: the host's keys are not the tests'.
            "DOCKYARD_GIT_AUTHORIZED_KEYS": str(self.data_dir.parent / "authorized_keys"),
            # The controller refuses to start when the git user cannot run its `dockyard`.
            **_git_executable_env(),
            **self.extra_env,
        }

    @property
    def instance(self) -> str:
        return Settings(data_dir=self.data_dir).instance

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [DOCKYARD, "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"controller exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"controller did not answer: {self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def cli(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [DOCKYARD, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(f"dockyard {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {TOKEN}", **kwargs.pop("headers", {})}
        return httpx.request(method, self.url + "/api/v1" + path, headers=headers, timeout=60, **kwargs)

    def get_app(self, app: str, path: str = "/", **kwargs: Any) -> httpx.Response:
        """A request through nginx with the app's Host header."""
        headers = {"Host": f"{app}.{BASE_DOMAIN}", **kwargs.pop("headers", {})}
        return httpx.get(f"http://127.0.0.1:{self.http_port}{path}", headers=headers, timeout=10, **kwargs)

    def keeper_pid(self) -> int | None:
        """The pid of the keeper `dockyard serve` started for this data dir, None if none runs."""
        return running_keeper(self.data_dir)

    def nginx_pid(self) -> int:
        return int((self.data_dir / "nginx" / "nginx.pid").read_text().strip())

    def cleanup(self) -> None:
        import docker

        self.kill()
        keeper = self.keeper_pid()
        if keeper is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(keeper, signal.SIGKILL)
        with contextlib.suppress(OSError, ValueError):
            os.kill(self.nginx_pid(), signal.SIGQUIT)
        client = docker.from_env()
        label = f"io.dockyard.instance={self.instance}"
        for container in client.containers.list(all=True, filters={"label": label}):
            container.remove(force=True)
        for image in client.images.list(filters={"label": label}):
            client.images.remove(str(image.id), force=True)
        for network in client.networks.list(names=[f"dockyard-e2e-{self.instance}"]):
            network.remove()
        client.close()


def make_controller(tmp_path: Path, **extra_env: str) -> Controller:
    data_dir = tmp_path / "data"
    return Controller(
        data_dir=data_dir,
        api_port=free_port(),
        http_port=free_port(),
        log_path=tmp_path / "controller.log",
        extra_env=extra_env,
    )


@pytest.fixture
def controller(tmp_path: Path, busybox_image: str) -> Iterator[Controller]:
    ctl = make_controller(tmp_path)
    ctl.start()
    try:
        yield ctl
    finally:
        ctl.cleanup()


@pytest.fixture(scope="module")
def shared_controller(tmp_path_factory: pytest.TempPathFactory, busybox_image: str) -> Iterator[Controller]:
    ctl = make_controller(tmp_path_factory.mktemp("ctl"))
    ctl.start()
    try:
        yield ctl
    finally:
        ctl.cleanup()
