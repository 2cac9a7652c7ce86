"""Shared fixtures: the real Docker Engine and a tiny local base image (no registry here)."""

import io
import os
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

BUSYBOX_IMAGE = "dockyard-test/busybox:latest"
BUSYBOX_DOCKERFILE = b"""FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
"""


REQUIRE_ROOT_ENV = "DOCKYARD_REQUIRE_ROOT"


def require_root(what: str) -> None:
    """Skip a test that needs root (`what` says why) when run as another user; scripts/test.sh
    runs as root and sets DOCKYARD_REQUIRE_ROOT=1, and then such a test fails instead of
    silently not running."""
    if os.geteuid() == 0:
        return
    if os.environ.get(REQUIRE_ROOT_ENV) == "1":
        pytest.fail(f"{what}, but this run is not root and {REQUIRE_ROOT_ENV}=1")
    pytest.skip(what)


def docker_socket_path() -> str:
    """The unix socket of the engine the tests use: the run's private dockerd when DOCKER_HOST names it."""
    host = os.environ.get("DOCKER_HOST", "")
    return host.removeprefix("unix://") if host.startswith("unix://") else "/var/run/docker.sock"


def _busybox_context() -> bytes:
    source = shutil.which("busybox") or "/bin/busybox"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(BUSYBOX_DOCKERFILE)
        tar.addfile(info, io.BytesIO(BUSYBOX_DOCKERFILE))
        tar.add(source, arcname="busybox")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def docker_client() -> Iterator["object"]:
    """A Docker SDK client of the engine scripts/test.sh started."""
    import docker

    client = docker.from_env()
    client.ping()
    yield client
    client.close()


def build_busybox_image(docker_client: "object") -> str:
    """Build (or find in Docker's layer cache) the 2 MB base image from Debian's busybox-static."""
    import docker

    assert isinstance(docker_client, docker.DockerClient)
    for chunk in docker_client.api.build(
        fileobj=io.BytesIO(_busybox_context()),
        custom_context=True,
        tag=BUSYBOX_IMAGE,
        decode=True,
        forcerm=True,
    ):
        if "error" in chunk:
            raise RuntimeError(chunk["error"])
    return BUSYBOX_IMAGE


@pytest.fixture(scope="session")
def busybox_image(docker_client: "object") -> str:
    """The tests' base image (no registry here: built locally, once per session)."""
    return build_busybox_image(docker_client)


def write_static_app(directory: Path, *, body: str, port: int = 8080) -> Path:
    """Write a Dockerfile app serving `body` at / with busybox httpd; return the dir.

    At start the container also writes its GREETING env var to /env.txt, so tests can
    see config reach the container through HTTP.
    """
    (directory / "www").mkdir(parents=True, exist_ok=True)
    (directory / "www" / "index.html").write_text(body)
    (directory / "Dockerfile").write_text(
        f"FROM {BUSYBOX_IMAGE}\n"
        "COPY www /www\n"
        f"EXPOSE {port}\n"
        'CMD ["sh", "-c", "echo \\"$GREETING\\" > /www/env.txt; hostname > /www/host.txt; '
        'echo listening-on-$PORT; exec httpd -f -p $PORT -h /www"]\n'
    )
    return directory
