"""The keeper: a one-container app stopped through Docker's API serves again while the controller is down."""

import json
import os
import random
import signal
import time
from pathlib import Path

import docker
import httpx
import pytest
from docker.models.containers import Container

from tests.conftest import write_static_app
from tests.e2e.conftest import BASE_DOMAIN, Controller, make_controller
from tests.e2e.test_chaos import SOLO, Chaos, measure_container_start
from tests.e2e.test_queue import wait_until

pytestmark = pytest.mark.integration

OUTAGE_LIMIT = 3.0  # times one container start: a shared 2-core machine is noisy


def test_a_docker_killed_container_serves_again_while_the_controller_is_down(
    tmp_path: Path, busybox_image: str
) -> None:
    ctl = make_controller(tmp_path)
    ctl.start()
    client = docker.from_env()
    chaos = Chaos(ctl=ctl, rng=random.Random(0), workdir=tmp_path, docker=client)
    try:
        ctl.cli("apps", "create", SOLO)
        ctl.cli("deploy", SOLO, "--path", str(write_static_app(tmp_path / "v1", body="v1")))
        wait_until(lambda: ctl.keeper_pid() is not None, 30, "serve started no keeper")
        keeper = ctl.keeper_pid()
        start_seconds = measure_container_start(chaos)
        (container,) = chaos.containers(SOLO)

        ctl.kill()
        killed = time.monotonic()
        container.kill()  # Docker's API: no restart policy brings it back
        _wait_answering(ctl, "v1")
        outage = time.monotonic() - killed

        assert ctl.process is not None and ctl.process.poll() is not None  # still down
        assert ctl.keeper_pid() == keeper
        assert [c.id for c in chaos.containers(SOLO)] == [container.id]  # started in place
        ratio = outage / start_seconds
        print(f"outage {outage:.2f}s, one container start {start_seconds:.2f}s, ratio {ratio:.2f}")
        assert ratio <= OUTAGE_LIMIT, f"outage {outage:.2f}s > {OUTAGE_LIMIT} x {start_seconds:.2f}s"

        # The keeper's start is in the audit log, as the reconciler's (it wrote it itself).
        ctl.start()
        events = json.loads(ctl.cli("audit", "--app", SOLO, "--json").stdout)
        restarts = [e for e in events if (e["actor"], e["action"]) == ("reconciler", "restart_container")]
        assert any(e["outcome"] == "ok" and container.name in e["detail"] for e in restarts), events
    finally:
        ctl.cleanup()
        client.close()


def test_the_keeper_leaves_a_retired_container_stopped_and_exits_with_its_data_dir(
    tmp_path: Path, busybox_image: str
) -> None:
    """A deploy retires the old container (stopped, removed): the keeper does not bring it back."""
    ctl = make_controller(tmp_path)
    ctl.start()
    client = docker.from_env()
    chaos = Chaos(ctl=ctl, rng=random.Random(0), workdir=tmp_path, docker=client)
    try:
        ctl.cli("apps", "create", SOLO)
        ctl.cli("deploy", SOLO, "--path", str(write_static_app(tmp_path / "v1", body="v1")))
        (old,) = chaos.containers(SOLO)
        ctl.cli("deploy", SOLO, "--path", str(write_static_app(tmp_path / "v2", body="v2")))
        (new,) = chaos.containers(SOLO, running=False)
        assert new.id != old.id and _answers(ctl, "v2")
        log = (ctl.data_dir / "logs" / "keeper.log").read_text()
        assert "started it again" not in log, log

        wait_until(lambda: ctl.keeper_pid() is not None, 30, "serve started no keeper")
        keeper = ctl.keeper_pid()
        assert keeper is not None
        ctl.kill()
        (ctl.data_dir / "keeper.pid").unlink()  # as when the data dir is deleted
        wait_until(lambda: not Path(f"/proc/{keeper}").exists() or _zombie(keeper), 30, "the keeper stayed")
    finally:
        ctl.cleanup()
        client.close()


@pytest.mark.parametrize("how", ["crash", "docker-kill"])
def test_a_container_started_again_at_another_address_is_routed_there(
    tmp_path: Path, busybox_image: str, how: str
) -> None:
    """Docker starts a container again at the lowest free address of its network, not its own.

    Another app's container, removed, frees an address below `solo`'s; `solo`'s container
    then comes back there (Docker's restart after a crash, or the keeper's start after a
    `docker kill`). The controller routes it at its new address on the start event: the
    reconciler (which would also notice) is an hour away here.
    """
    ctl = make_controller(tmp_path, DOCKYARD_RECONCILE_INTERVAL="3600")
    ctl.start()
    client = docker.from_env()
    chaos = Chaos(ctl=ctl, rng=random.Random(0), workdir=tmp_path, docker=client)
    try:
        for app in ("low", SOLO):
            ctl.cli("apps", "create", app)
            ctl.cli("deploy", app, "--path", str(write_static_app(tmp_path / app, body="v1")))
        start_seconds = measure_container_start(chaos)
        (container,) = chaos.containers(SOLO)
        before = _address(container)
        ctl.cli("apps", "destroy", "low", "--force")  # frees the lower address

        stopped = time.monotonic()
        if how == "crash":
            os.kill(container.attrs["State"]["Pid"], signal.SIGKILL)
        else:
            container.kill()
        container_id = str(container.id)
        wait_until(lambda: _running(client, container_id), 30, "the container did not run again")
        _wait_answering(ctl, "v1")
        outage = time.monotonic() - stopped

        after = _address(client.containers.get(container_id))
        assert after != before, f"Docker gave the container its own address {before} again"
        ratio = outage / start_seconds
        print(f"{how}: {before} -> {after}, outage {outage:.2f}s, one container start {start_seconds:.2f}s")
        assert ratio <= OUTAGE_LIMIT, f"outage {outage:.2f}s > {OUTAGE_LIMIT} x {start_seconds:.2f}s"
        deploys = ctl.api("GET", f"/apps/{SOLO}/deploys").json()
        assert [d["kind"] for d in deploys] == ["build"]  # routed, not replaced by a repair
    finally:
        ctl.cleanup()
        client.close()


def _address(container: Container) -> str:
    (network,) = container.attrs["NetworkSettings"]["Networks"].values()
    return str(network["IPAddress"])


def _running(client: docker.DockerClient, container_id: str) -> bool:
    return bool(client.containers.get(container_id).attrs["State"]["Running"])


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return True


def _answers(ctl: Controller, body: str) -> bool:
    try:
        response = httpx.get(
            f"http://127.0.0.1:{ctl.http_port}/", headers={"Host": f"{SOLO}.{BASE_DOMAIN}"}, timeout=1
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.text.strip() == body


def _wait_answering(ctl: Controller, body: str, timeout: float = 30) -> None:
    """Poll closely (this times an outage) until the app answers `body` through nginx."""
    deadline = time.monotonic() + timeout
    while not _answers(ctl, body):
        assert time.monotonic() < deadline, f"{SOLO} did not answer {body!r} within {timeout}s"
        time.sleep(0.01)
