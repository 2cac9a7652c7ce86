"""The durable queue and the reconciler against real Docker, nginx and SQLite."""

import json
import os
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import httpx
import pytest

from controller.adapters.docker.context import pack_directory
from tests.conftest import BUSYBOX_IMAGE, write_static_app
from tests.e2e.conftest import BASE_DOMAIN, TOKEN, Controller, make_controller
from tests.e2e.load import LoadClient

pytestmark = pytest.mark.integration
FINAL = {"succeeded", "failed", "cancelled", "superseded", "interrupted"}
ROOT = Path(__file__).resolve().parents[2]


def post_build(ctl: Controller, app: str, directory: Path) -> dict[str, object]:
    response = ctl.api(
        "POST",
        f"/apps/{app}/deploys",
        content=pack_directory(directory),
        headers={"Content-Type": "application/gzip"},
    )
    assert response.status_code == 202, response.text
    result: dict[str, object] = response.json()
    return result


def wait_all_final(ctl: Controller, app: str | None = None, timeout: float = 240) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while True:
        path = f"/apps/{app}/deploys?limit=500" if app else "/deploys?limit=500"
        deploys: list[dict[str, object]] = ctl.api("GET", path).json()
        if all(d["status"] in FINAL for d in deploys) or time.monotonic() > deadline:
            return deploys
        time.sleep(0.2)


def app_container_ids(ctl: Controller, app: str, *, running_only: bool = False) -> list[str]:
    client = docker.from_env()
    labels = [f"io.dockyard.instance={ctl.instance}", f"io.dockyard.app={app}"]
    ids = [str(c.id) for c in client.containers.list(all=not running_only, filters={"label": labels})]
    client.close()
    return ids


def wait_until(predicate: object, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():  # type: ignore[operator]
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.2)
    raise AssertionError(message)


def test_a_burst_of_deploys_builds_at_most_twice_and_serves_the_newest(
    controller: Controller, tmp_path: Path
) -> None:
    ctl = controller
    ctl.cli("apps", "create", "burst")
    archives = [pack_directory(write_static_app(tmp_path / f"v{i}", body=f"burst-{i}")) for i in range(30)]

    def send(archive: bytes) -> str:
        response = ctl.api(
            "POST", "/apps/burst/deploys", content=archive, headers={"Content-Type": "application/gzip"}
        )
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    with ThreadPoolExecutor(max_workers=30) as pool:
        sent = [pool.submit(send, archive) for archive in archives]
        ids = [future.result() for future in sent]
    last = max(ids, key=lambda i: ctl.api("GET", f"/deploys/{i}").json()["created_at"])
    deploys = {d["id"]: d for d in wait_all_final(ctl, "burst")}
    assert set(ids) <= set(deploys)
    statuses = [deploys[i]["status"] for i in ids]
    assert all(s in FINAL for s in statuses), statuses
    ran = [i for i in ids if deploys[i]["status"] != "superseded"]
    assert len(ran) <= 2, statuses
    assert deploys[last]["status"] == "succeeded"
    assert ctl.get_app("burst").text.strip() == f"burst-{ids.index(last)}"
    superseded = next(i for i in ids if deploys[i]["status"] == "superseded")
    superseded_log = ctl.cli("deploys", "show", superseded).stdout
    assert "superseded by deploy" in superseded_log


def test_apps_take_turns_with_one_worker(tmp_path: Path, busybox_image: str) -> None:
    ctl = make_controller(tmp_path, DOCKYARD_DEPLOY_WORKERS="1")
    ctl.start()
    try:
        apps = ["turn-a", "turn-b", "turn-c", "turn-d"]
        for app in apps:
            ctl.cli("apps", "create", app)
        for round_ in range(3):
            for app in apps:
                post_build(ctl, app, write_static_app(tmp_path / f"{app}-{round_}", body=f"{app}-{round_}"))
        deploys = wait_all_final(ctl)
        assert len(deploys) == 12 and all(d["status"] in FINAL for d in deploys)
        started = sorted((d for d in deploys if d["started_at"]), key=lambda d: str(d["started_at"]))
        assert {d["app"] for d in started[:4]} == set(apps), [d["app"] for d in started]
        for app in apps:
            assert ctl.get_app(app).text.strip() == f"{app}-2"
    finally:
        ctl.cleanup()


def test_a_long_build_does_not_hold_up_another_apps_config_change(tmp_path: Path, busybox_image: str) -> None:
    ctl = make_controller(tmp_path, DOCKYARD_DEPLOY_WORKERS="1")
    ctl.start()
    try:
        for app in ("quick", "slow"):
            ctl.cli("apps", "create", app)
        ctl.cli("deploy", "quick", "--path", str(write_static_app(tmp_path / "quick", body="quick")))
        slow_dir = write_static_app(tmp_path / "slow", body="slow")
        with (slow_dir / "Dockerfile").open("a") as handle:
            handle.write(f"RUN echo slow-step-{time.time_ns()} && sleep 8\n")
        build = post_build(ctl, "slow", slow_dir)
        _follow_until(ctl, str(build["id"]), "slow-step")

        change = ctl.api("PATCH", "/apps/quick/config", json={"set": {"GREETING": "hi"}}).json()
        deadline = time.monotonic() + 60
        while ctl.api("GET", f"/deploys/{change['id']}").json()["status"] not in FINAL:
            assert time.monotonic() < deadline, "the config change never ended"
            time.sleep(0.1)

        assert ctl.api("GET", f"/deploys/{change['id']}").json()["status"] == "succeeded"
        assert ctl.api("GET", f"/deploys/{build['id']}").json()["status"] == "running"
        deploys = {d["id"]: d for d in wait_all_final(ctl, "slow")}
        assert deploys[build["id"]]["status"] == "succeeded"
    finally:
        ctl.cleanup()


def _follow_until(ctl: Controller, deploy_id: str, marker: str, timeout: float = 120) -> None:
    with httpx.stream(
        "GET",
        f"{ctl.url}/api/v1/deploys/{deploy_id}/log",
        params={"follow": "true"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=timeout,
    ) as response:
        for line in response.iter_lines():
            if marker in line:
                return
    raise AssertionError(f"the deploy log never showed {marker!r}")


@pytest.mark.parametrize(
    ("phase", "marker", "dockerfile_extra"),
    [
        ("build", "slow-build-step", "RUN echo slow-build-step && sleep 4\n"),
        ("start", "Health-checking", ""),
        ("switch", "Switching traffic", ""),
    ],
)
def test_a_controller_killed_mid_deploy_recovers_without_downtime(
    tmp_path: Path, busybox_image: str, phase: str, marker: str, dockerfile_extra: str
) -> None:
    ctl = make_controller(tmp_path, DOCKYARD_RECONCILE_INTERVAL="2", DOCKYARD_DEPLOY_WORKERS="1")
    ctl.start()
    try:
        ctl.cli("apps", "create", "crashy")
        ctl.cli("deploy", "crashy", "--path", str(write_static_app(tmp_path / "v1", body="v1")))
        v2 = write_static_app(tmp_path / "v2", body="v2")
        if phase == "start":
            # A slow start keeps the new container in its health check for a while.
            dockerfile = (v2 / "Dockerfile").read_text().replace('["sh", "-c", "', '["sh", "-c", "sleep 3; ')
            (v2 / "Dockerfile").write_text(dockerfile)
        with (v2 / "Dockerfile").open("a") as handle:
            handle.write(dockerfile_extra)
        with LoadClient(ctl.http_port, f"crashy.{BASE_DOMAIN}") as load:
            load.wait_for(50)
            deploy = post_build(ctl, "crashy", v2)
            queued_behind = ctl.api(
                "PATCH", "/apps/crashy/config", json={"set": {"GREETING": "after"}}
            ).json()
            _follow_until(ctl, str(deploy["id"]), marker)
            ctl.kill()
            load.wait_for(load.total + 200)
            ctl.start()
            deploys = {d["id"]: d for d in wait_all_final(ctl, "crashy")}
            load.wait_for(load.total + 200)
        assert deploys[deploy["id"]]["status"] == "interrupted"
        retries = [
            d
            for d in deploys.values()
            if d["kind"] == "build" and str(d["created_at"]) > str(deploy["created_at"])
        ]
        assert len(retries) == 1 and retries[0]["status"] == "succeeded", deploys
        assert deploys[queued_behind["id"]]["status"] == "succeeded"
        assert load.failures == 0, (load.statuses, load.errors[:3])
        assert set(load.bodies) <= {"v1", "v2"}
        assert ctl.get_app("crashy").text.strip() == "v2"
        assert ctl.get_app("crashy", "/env.txt").text.strip() == "after"
        wait_until(
            lambda: len(app_container_ids(ctl, "crashy")) == 1,
            30,
            "half-created containers were not removed",
        )
    finally:
        ctl.cleanup()


def test_cancel_a_running_build_keeps_the_old_release(controller: Controller, tmp_path: Path) -> None:
    ctl = controller
    ctl.cli("apps", "create", "cancelled")
    ctl.cli("deploy", "cancelled", "--path", str(write_static_app(tmp_path / "v1", body="v1")))
    slow = write_static_app(tmp_path / "v2", body="v2")
    with (slow / "Dockerfile").open("a") as handle:
        handle.write("RUN echo long-build && sleep 600\n")
    deploy = post_build(ctl, "cancelled", slow)
    _follow_until(ctl, str(deploy["id"]), "long-build")
    cancelled = ctl.cli("deploys", "cancel", str(deploy["id"]))  # returns once the job has stopped
    assert cancelled.stdout.splitlines()[-1] == f"{deploy['id']} cancelled", cancelled.stdout
    final = ctl.api("GET", f"/deploys/{deploy['id']}").json()
    assert final["status"] == "cancelled", final
    assert ctl.get_app("cancelled").text.strip() == "v1"
    assert len(app_container_ids(ctl, "cancelled")) == 1
    queued = post_build(ctl, "cancelled", slow)
    assert ctl.cli("deploys", "cancel", str(queued["id"])).stdout.endswith(" cancelled\n")
    assert wait_all_final(ctl, "cancelled", timeout=60)[0]["status"] == "cancelled"
    again = ctl.cli("deploys", "cancel", str(queued["id"]), check=False)  # already final
    assert again.returncode != 0 and "is cancelled" in again.stderr


def test_reconciler_brings_killed_containers_back_and_spares_foreign_ones(
    tmp_path: Path, busybox_image: str
) -> None:
    client = docker.from_env()
    foreign = client.containers.run(BUSYBOX_IMAGE, ["sleep", "300"], detach=True, init=True)
    ctl = make_controller(tmp_path, DOCKYARD_RECONCILE_INTERVAL="2")
    ctl.start()
    try:
        ctl.cli("apps", "create", "phoenix")
        ctl.cli("deploy", "phoenix", "--path", str(write_static_app(tmp_path / "v1", body="v1")))
        (container_id,) = app_container_ids(ctl, "phoenix")
        client.containers.get(container_id).kill()
        wait_until(lambda: ctl.get_app("phoenix").text.strip() == "v1", 30, "the app did not come back")
        stopped = client.containers.get(app_container_ids(ctl, "phoenix", running_only=True)[0])
        stopped.stop(timeout=1)
        wait_until(lambda: ctl.get_app("phoenix").text.strip() == "v1", 30, "a stopped container stayed down")
        wait_until(
            lambda: len(app_container_ids(ctl, "phoenix")) == 1, 30, "the dead container was not removed"
        )
        ctl.cli("system", "prune")
        df = json.loads(ctl.cli("system", "df", "--json").stdout)
        assert df["containers"] == 1 and df["images"] >= 1
        foreign.reload()
        assert foreign.status == "running"
    finally:
        ctl.cleanup()
        foreign.remove(force=True)
        client.close()


def test_a_subscriber_that_never_reads_does_not_block_deploys(controller: Controller, tmp_path: Path) -> None:
    ctl = controller
    ctl.cli("apps", "create", "watched")
    silent = []
    for path in ("/api/v1/events", "/api/v1/deploys?limit=1"):
        sock = socket.create_connection(("127.0.0.1", ctl.api_port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
        silent.append(sock)
    try:
        with httpx.stream(
            "GET", f"{ctl.url}/api/v1/events", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120
        ) as events:
            for round_ in range(3):
                ctl.cli(
                    "deploy", "watched", "--path", str(write_static_app(tmp_path / f"v{round_}", body="w"))
                )
            seen = []
            for line in events.iter_lines():
                if line.startswith("data:"):
                    event = json.loads(line[5:])
                    if event["type"] != "deploy":  # container and certificate events carry no status
                        continue
                    seen.append(event)
                    if sum(1 for e in seen if e["status"] == "succeeded") == 3:
                        break
        assert [e["status"] for e in seen if e["app"] == "watched"][:3] == ["queued", "running", "succeeded"]
    finally:
        for sock in silent:
            sock.close()


def _private_dockerd_dir() -> Path | None:
    """The dir of the test suite's own dockerd (scripts/test.sh), if DOCKER_HOST points at it."""
    directory = os.environ.get("DOCKYARD_TEST_DOCKERD_DIR", "")
    if not directory or os.environ.get("DOCKER_HOST") != f"unix://{directory}/docker.sock":
        return None
    return Path(directory)


def _process_gone(pid: int) -> bool:
    """Exited (a zombie counts: nobody may reap it soon when PID 1 is not an init)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


@pytest.mark.skipif(
    os.environ.get("DOCKYARD_TEST_KILL_DOCKERD") != "1" or _private_dockerd_dir() is None,
    reason="kills dockerd: only the test suite's private one (scripts/test.sh runs it last)",
)
def test_apps_come_back_after_dockerd_is_killed_without_live_restore(
    tmp_path: Path, busybox_image: str
) -> None:
    dockerd_dir = _private_dockerd_dir()
    assert dockerd_dir is not None
    ctl = make_controller(tmp_path, DOCKYARD_RECONCILE_INTERVAL="2")
    ctl.start()
    try:
        for app in ("after-a", "after-b"):
            ctl.cli("apps", "create", app)
            ctl.cli("deploy", app, "--path", str(write_static_app(tmp_path / app, body=app)))
        pid = int((dockerd_dir / "docker.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: _process_gone(pid), 30, "dockerd did not die")
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "test-dockerd.sh"), "restart", str(dockerd_dir)],
            check=True,
            timeout=120,
        )
        for app in ("after-a", "after-b"):
            wait_until(lambda app=app: ctl.get_app(app).text.strip() == app, 60, f"{app} did not come back")
    finally:
        ctl.cleanup()
