"""What DockerRuntime tells about a crashing or misconfigured container, against the real engine."""

import dataclasses
import secrets
import threading
import time
from collections.abc import Callable, Iterator

import docker
import pytest

from controller.adapters.docker.inspection import parse_proc_net_listeners
from controller.adapters.docker.runtime import DockerRuntime
from controller.domain.containers import LABEL_INSTANCE, ContainerSpec, web_container_spec
from controller.domain.models import ContainerExit
from tests.conftest import BUSYBOX_IMAGE

TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 0200A8C0:D1C2 0100A8C0:0050 01 00000000:00000000 00:00000000 00000000     0        0 3 1
"""
TCP6 = """  sl  local_address                         remote_address                        st ...
   0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A 0 0 0
   1: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 0 0 0
   2: 0000000000000000FFFF00000100007F:0BB8 00000000000000000000000000000000:0000 0A 0 0 0
"""


def test_proc_net_tcp_listeners_are_parsed() -> None:
    assert parse_proc_net_listeners(TCP) == [("127.0.0.1", 8080), ("0.0.0.0", 80)]
    assert parse_proc_net_listeners(TCP6) == [("::", 8081), ("::1", 22), ("127.0.0.1", 3000)]
    assert parse_proc_net_listeners("garbage\n1: zz:zz 0 0A\n") == []


@pytest.fixture
def runtime(docker_client: object, busybox_image: str) -> Iterator[tuple[DockerRuntime, str]]:
    assert isinstance(docker_client, docker.DockerClient)
    token = secrets.token_hex(4)
    instance = f"test-{token}"
    network = f"dockyard-{instance}"
    yield DockerRuntime(instance=instance, network=network, timeout=30), instance
    for container in docker_client.containers.list(
        all=True, filters={"label": f"{LABEL_INSTANCE}={instance}"}
    ):
        container.remove(force=True, v=True)
    for found in docker_client.networks.list(names=[network]):
        if found.name == network:
            found.remove()


def _spec(instance: str, command: str) -> ContainerSpec:
    spec = web_container_spec(
        instance=instance,
        app="diag",
        release=4,
        deploy_id=secrets.token_hex(6),
        index=0,
        image_id=BUSYBOX_IMAGE,
        config={},
        port=8080,
        network=f"dockyard-{instance}",
    )
    return dataclasses.replace(spec, command=("sh", "-c", command))


def _wait_for(condition: Callable[[], bool], what: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.integration
@pytest.mark.timeout(120)
@pytest.mark.usefixtures("busybox_image")
def test_crashes_are_reported_with_exit_code_and_counted_as_restarts(
    runtime: tuple[DockerRuntime, str],
) -> None:
    docker_runtime, instance = runtime
    exits: list[ContainerExit] = []
    stop = threading.Event()
    watcher = threading.Thread(target=docker_runtime.watch_deaths, args=(exits.append, stop), daemon=True)
    watcher.start()
    try:
        crashing = docker_runtime.run_container(_spec(instance, "sleep 0.3; exit 3"))
        _wait_for(lambda: docker_runtime.inspect_container(crashing.id).restart_count >= 2, "restarts")
        _wait_for(lambda: any(e.crashed for e in exits), "a crash event")
        crash = next(e for e in exits if e.crashed)
        assert (crash.app, crash.release, crash.process, crash.exit_code) == ("diag", 4, "web", 3)
        assert crash.container == crashing.name

        steady = docker_runtime.run_container(_spec(instance, "exec httpd -f -p 8080 -h /"))
        _wait_for(lambda: docker_runtime.listening_ports(steady.id) != [], "a listener")
        assert docker_runtime.listening_ports(steady.id) == [("::", 8080)]
        info = docker_runtime.inspect_container(steady.id)
        assert info.restart_count == 0 and info.exit_code is None and info.started_at is not None
        docker_runtime.remove_container(steady.id, stop_timeout=1)
        _wait_for(lambda: any(e.container == steady.name for e in exits), "the stop's event")
        assert not next(e for e in exits if e.container == steady.name).crashed  # stopped, not crashed
    finally:
        stop.set()
        watcher.join(5)
