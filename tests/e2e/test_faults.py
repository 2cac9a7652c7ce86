"""Bad input and faults against real Docker and nginx: each fails clearly and changes nothing."""

import io
import json
import os
import tarfile
import time
from pathlib import Path

import docker
import httpx
import pytest

from tests.conftest import BUSYBOX_IMAGE, docker_socket_path, write_static_app
from tests.e2e.conftest import Controller, make_controller
from tests.e2e.load import LoadClient

pytestmark = pytest.mark.integration


def app_containers(ctl: Controller, app: str) -> list[str]:
    client = docker.from_env()
    labels = [f"io.dockyard.instance={ctl.instance}", f"io.dockyard.app={app}"]
    names = [str(c.name) for c in client.containers.list(all=True, filters={"label": labels})]
    client.close()
    return names


@pytest.fixture(scope="module")
def serving(shared_controller: Controller, tmp_path_factory: pytest.TempPathFactory) -> Controller:
    """An app `good` serving v1, for checking that faults leave it alone."""
    shared_controller.cli("apps", "create", "good")
    path = write_static_app(tmp_path_factory.mktemp("good"), body="v1")
    shared_controller.cli("deploy", "good", "--path", str(path))
    return shared_controller


def assert_still_serving_v1(ctl: Controller) -> None:
    response = ctl.get_app("good")
    assert response.status_code == 200 and response.text.strip() == "v1"
    assert len(app_containers(ctl, "good")) == 1


def test_broken_dockerfile_fails_with_its_build_log(serving: Controller, tmp_path: Path) -> None:
    write_static_app(tmp_path, body="v2")
    (tmp_path / "Dockerfile").write_text(f"FROM {BUSYBOX_IMAGE}\nRUN echo about-to-fail && false\n")
    result = serving.cli("deploy", "good", "--path", str(tmp_path), check=False)
    assert result.returncode != 0
    assert "about-to-fail" in result.stdout
    assert "returned a non-zero code" in result.stdout + result.stderr
    assert_still_serving_v1(serving)
    assert json.loads(serving.cli("releases", "good", "--json").stdout)[0]["number"] == 1


def test_dockerfile_syntax_error_fails(serving: Controller, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM\nNOTACOMMAND x\n")
    result = serving.cli("deploy", "good", "--path", str(tmp_path), check=False)
    assert result.returncode != 0
    assert_still_serving_v1(serving)


def test_container_that_exits_fails_with_its_last_lines(serving: Controller, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        f'FROM {BUSYBOX_IMAGE}\nCMD ["sh", "-c", "echo database-url-missing; exit 3"]\n'
    )
    result = serving.cli("deploy", "good", "--path", str(tmp_path), check=False)
    assert result.returncode != 0
    assert "database-url-missing" in result.stdout
    assert "exited" in result.stdout
    assert_still_serving_v1(serving)


def test_never_healthy_app_fails_after_the_budget(serving: Controller, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        f"FROM {BUSYBOX_IMAGE}\nEXPOSE 8080\n"
        'CMD ["sh", "-c", "echo starting-but-broken; while true; do '
        "printf 'HTTP/1.0 500 Broken\\r\\n\\r\\nbroken' | nc -l -p $PORT >/dev/null; done\"]\n"
    )
    started = time.monotonic()
    result = serving.cli("deploy", "good", "--path", str(tmp_path), check=False)
    assert result.returncode != 0
    assert "not healthy after" in result.stdout
    assert "starting-but-broken" in result.stdout
    assert time.monotonic() - started < 120
    assert_still_serving_v1(serving)


def test_app_json_healthcheck_path_is_used(serving: Controller, tmp_path: Path) -> None:
    write_static_app(tmp_path, body="v1")
    (tmp_path / "app.json").write_text(
        json.dumps({"healthchecks": {"web": [{"path": "/missing", "attempts": 3, "wait": 0.2}]}})
    )
    result = serving.cli("deploy", "good", "--path", str(tmp_path), check=False)
    assert result.returncode != 0
    assert "GET /missing failed 3 times" in result.stdout
    assert_still_serving_v1(serving)


@pytest.mark.parametrize("name", ["../x", "a;b", "A", "a" * 200, "-a", "api"])
def test_hostile_app_names(serving: Controller, name: str) -> None:
    before = serving.api("GET", "/apps").json()
    response = serving.api("POST", "/apps", json={"name": name})
    assert 400 <= response.status_code < 500
    assert response.json()["detail"]
    assert serving.api("GET", "/apps").json() == before


@pytest.mark.parametrize("domain", ["a.com;include /etc/shadow", "a.com\n", "*.*", "-a.com", "a.com}"])
def test_hostile_domains(serving: Controller, domain: str) -> None:
    response = serving.api("POST", "/apps/good/domains", json={"domain": domain})
    assert response.status_code == 400, response.text
    assert "invalid domain" in response.json()["detail"]
    sites = (serving.data_dir / "nginx" / "sites.conf").read_text()
    assert "shadow" not in sites and "a.com" not in sites and "*.*" not in sites
    assert_still_serving_v1(serving)


@pytest.mark.parametrize("key", ["A=B", "A\nB", "1A", ""])
def test_hostile_env_keys(serving: Controller, key: str) -> None:
    response = serving.api("PATCH", "/apps/good/config", json={"set": {key: "v"}})
    assert response.status_code == 400, response.text
    assert serving.api("GET", "/apps/good/config").json() == {}


def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buffer.getvalue()


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, b""


@pytest.mark.parametrize(
    "archive",
    [
        _tar([_file("Dockerfile", b"FROM scratch\n"), _file("../evil", b"x")]),
        _tar([_file("Dockerfile", b"FROM scratch\n"), _file("/etc/evil", b"x")]),
        _tar([_file("Dockerfile", b"FROM scratch\n"), _link("up", "../../../etc")]),
        _tar([_file("Dockerfile", b"FROM scratch\n"), _link("abs", "/etc/passwd")]),
        _tar([_file("Dockerfile", b"FROM scratch\n"), _link("hard", "/etc/passwd", tarfile.LNKTYPE)]),
        b"this is not a tar archive",
        _tar([_file("README", b"no dockerfile")]),
    ],
    ids=["dotdot", "absolute", "symlink-up", "symlink-abs", "hardlink", "garbage", "no-dockerfile"],
)
def test_hostile_archives(serving: Controller, archive: bytes) -> None:
    before = serving.api("GET", "/apps/good/deploys").json()
    response = serving.api(
        "POST", "/apps/good/deploys", content=archive, headers={"Content-Type": "application/gzip"}
    )
    assert response.status_code == 400, response.text
    assert serving.api("GET", "/apps/good/deploys").json() == before
    assert not any((serving.data_dir / "builds").iterdir())
    assert_still_serving_v1(serving)


def test_unauthenticated_requests_are_refused(serving: Controller) -> None:
    assert httpx.get(serving.url + "/api/v1/apps").status_code == 401
    assert (
        httpx.get(serving.url + "/api/v1/apps", headers={"Authorization": "Bearer nope"}).status_code == 401
    )
    assert httpx.get(serving.url + "/openapi.json").status_code == 200


def test_killed_controller_leaves_apps_serving_and_restart_adopts_nginx(
    controller: Controller, tmp_path: Path
) -> None:
    controller.cli("apps", "create", "survivor")
    controller.cli("deploy", "survivor", "--path", str(write_static_app(tmp_path / "v1", body="v1")))
    nginx_pid = controller.nginx_pid()
    controller.kill()
    for _ in range(50):
        assert controller.get_app("survivor").text.strip() == "v1"
    controller.start()
    assert controller.nginx_pid() == nginx_pid
    masters = [
        pid
        for pid in os.listdir("/proc")
        if pid.isdigit() and str(controller.data_dir / "nginx") in _cmdline(pid) and "master" in _cmdline(pid)
    ]
    assert masters == [str(nginx_pid)]
    assert controller.get_app("survivor").text.strip() == "v1"
    controller.cli("deploy", "survivor", "--path", str(write_static_app(tmp_path / "v2", body="v2")))
    assert controller.get_app("survivor").text.strip() == "v2"


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_docker_unreachable_answers_503_and_recovers(tmp_path: Path, busybox_image: str) -> None:
    socket_dir = tmp_path / "sock"
    socket_dir.mkdir()
    link = socket_dir / "docker.sock"
    ctl = make_controller(tmp_path, DOCKER_HOST=f"unix://{link}")
    ctl.start()
    try:
        ctl.cli("apps", "create", "later")
        path = write_static_app(tmp_path / "app", body="later")
        result = ctl.cli("deploy", "later", "--path", str(path), check=False)
        assert result.returncode != 0
        assert "Docker daemon is not reachable" in result.stderr and "503" in result.stderr
        assert httpx.get(ctl.url + "/api/v1/health").json()["docker"] is False
        link.symlink_to(docker_socket_path())
        ctl.cli("deploy", "later", "--path", str(path))
        assert ctl.get_app("later").text.strip() == "later"
        assert ctl.api("GET", "/apps/later").json()["status"] == "running"
    finally:
        ctl.cleanup()


def test_config_nginx_rejects_fails_the_deploy_and_keeps_serving(serving: Controller, tmp_path: Path) -> None:
    overrides = serving.data_dir / "nginx" / "apps" / "good"
    overrides.mkdir(parents=True, exist_ok=True)
    sites_before = (serving.data_dir / "nginx" / "sites.conf").read_text()
    (overrides / "broken.conf").write_text("this_is_not_a_directive on;\n")
    try:
        with LoadClient(serving.http_port, "good.apps.test") as load:
            load.wait_for(50)
            result = serving.cli(
                "deploy", "good", "--path", str(write_static_app(tmp_path, body="v2")), check=False
            )
            load.wait_for(load.total + 100)
    finally:
        (overrides / "broken.conf").unlink()
    assert result.returncode != 0
    assert "this_is_not_a_directive" in result.stdout
    assert load.failures == 0, (load.statuses, load.errors[:3])
    assert (serving.data_dir / "nginx" / "sites.conf").read_text() == sites_before
    assert_still_serving_v1(serving)


def test_failing_image_healthcheck_fails_the_deploy(serving: Controller, tmp_path: Path) -> None:
    write_static_app(tmp_path, body="v2")
    with (tmp_path / "Dockerfile").open("a") as dockerfile:
        dockerfile.write("HEALTHCHECK --interval=1s --timeout=1s --retries=2 CMD false\n")
    result = serving.cli("deploy", "good", "--path", str(tmp_path), check=False)
    assert result.returncode != 0
    assert "HEALTHCHECK reports unhealthy" in result.stdout
    assert_still_serving_v1(serving)


def test_old_images_are_pruned_and_foreign_objects_survive(tmp_path: Path, busybox_image: str) -> None:
    client = docker.from_env()
    foreign = client.containers.run(busybox_image, ["sleep", "300"], detach=True, init=True)
    ctl = make_controller(tmp_path, DOCKYARD_KEEP_RELEASES="2")
    ctl.start()
    try:
        ctl.cli("apps", "create", "pruned")
        for version in range(1, 5):
            path = write_static_app(tmp_path / f"v{version}", body=f"v{version}")
            ctl.cli("deploy", "pruned", "--path", str(path))
        labels = [f"io.dockyard.instance={ctl.instance}", "io.dockyard.app=pruned"]
        kept = {image.id for image in client.images.list(filters={"label": labels})}
        releases = json.loads(ctl.cli("releases", "pruned", "--json").stdout)
        assert kept == {r["image_id"] for r in releases[:2]}
        result = ctl.cli("rollback", "pruned", "--to", "1", check=False)
        assert result.returncode != 0 and "was pruned" in result.stderr
        assert ctl.get_app("pruned").text.strip() == "v4"
        ctl.cli("rollback", "pruned")
        assert ctl.get_app("pruned").text.strip() == "v3"
        ctl.cli("apps", "destroy", "pruned", "--force")
        assert not client.images.list(filters={"label": labels})
        assert not client.containers.list(all=True, filters={"label": labels})
        foreign.reload()
        assert foreign.status == "running"
        assert client.images.get(busybox_image)
    finally:
        ctl.cleanup()
        foreign.remove(force=True)
        client.close()
