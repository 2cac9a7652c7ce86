"""The walking skeleton against real Docker and nginx: deploy, redeploy, rollback, config, scale."""

import json
import select
import subprocess
import time
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.conftest import write_static_app
from tests.e2e.conftest import BASE_DOMAIN, DOCKYARD, Controller, make_controller
from tests.e2e.load import LoadClient

pytestmark = pytest.mark.integration


def deploy_dir(controller: Controller, app: str, directory: Path, *, check: bool = True) -> str:
    return controller.cli("deploy", app, "--path", str(directory), check=check).stdout


def test_deploy_redeploy_without_failures_and_rollback(shared_controller: Controller, tmp_path: Path) -> None:
    ctl = shared_controller
    ctl.cli("apps", "create", "web")
    out = deploy_dir(ctl, "web", write_static_app(tmp_path / "v1", body="v1"))
    assert "Step 1/" in out and "is live" in out
    assert ctl.get_app("web").text.strip() == "v1"

    with LoadClient(ctl.http_port, f"web.{BASE_DOMAIN}") as load:
        load.wait_for(100)
        deploy_dir(ctl, "web", write_static_app(tmp_path / "v2", body="v2"))
        load.wait_for(load.total + 1000)
    assert load.total >= 1000
    assert load.failures == 0, (load.statuses, load.errors[:5])
    assert set(load.bodies) <= {"v1", "v2"}
    assert ctl.get_app("web").text.strip() == "v2"

    releases = json.loads(ctl.cli("releases", "web", "--json").stdout)
    assert [r["number"] for r in releases] == [2, 1]
    assert releases[0]["current"]

    ctl.cli("rollback", "web")
    assert ctl.get_app("web").text.strip() == "v1"
    info = json.loads(ctl.cli("apps", "info", "web", "--json").stdout)
    assert info["current_release"] == 1
    assert info["status"] == "running"
    assert len([c for c in info["containers"] if c["state"] == "running"]) == 1

    ctl.cli("rollback", "web", "--to", "2")
    assert ctl.get_app("web").text.strip() == "v2"


def test_config_reaches_the_container_and_is_masked(shared_controller: Controller, tmp_path: Path) -> None:
    ctl = shared_controller
    ctl.cli("apps", "create", "conf")
    deploy_dir(ctl, "conf", write_static_app(tmp_path / "app", body="conf"))
    ctl.cli("config", "set", "conf", "GREETING=hello world", "OTHER=x=y")
    assert ctl.get_app("conf", "/env.txt").text.strip() == "hello world"
    shown = json.loads(ctl.cli("config", "show", "conf", "--json").stdout)
    assert shown == {"GREETING": "********", "OTHER": "********"}
    revealed = json.loads(ctl.cli("config", "show", "conf", "--reveal", "--json").stdout)
    assert revealed == {"GREETING": "hello world", "OTHER": "x=y"}
    releases = json.loads(ctl.cli("releases", "conf", "--json").stdout)
    assert releases[0]["number"] == 2 and releases[0]["config_keys"] == ["GREETING", "OTHER"]

    ctl.cli("config", "unset", "conf", "GREETING")
    assert ctl.get_app("conf", "/env.txt").text.strip() == ""


def app_info(controller: Controller, app: str) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(controller.cli("apps", "info", app, "--json").stdout)
    return info


def test_a_config_change_that_changes_nothing_makes_no_release(shared_controller: Controller) -> None:
    ctl = shared_controller
    ctl.cli("apps", "create", "same")
    ctl.cli("config", "set", "same", "GREETING=hi")
    assert "Nothing changed" in ctl.cli("config", "set", "same", "GREETING=hi").stdout  # before a deploy
    deploy_dir(ctl, "same", write_static_app(ctl.data_dir.parent / "same", body="same"))
    before = app_info(ctl, "same")

    unset = ctl.cli("config", "unset", "same", "NOPE")
    assert "Not set, so nothing to unset: NOPE" in unset.stdout
    assert "Nothing changed: no new release" in unset.stdout
    again = ctl.cli("config", "set", "same", "GREETING=hi")
    assert "Nothing changed: no new release" in again.stdout

    after = app_info(ctl, "same")
    assert after["current_release"] == before["current_release"] == 1
    assert [c["id"] for c in after["containers"]] == [c["id"] for c in before["containers"]]
    assert [r["number"] for r in json.loads(ctl.cli("releases", "same", "--json").stdout)] == [1]
    assert ctl.get_app("same", "/env.txt").text.strip() == "hi"


def test_scale_to_three_containers_that_all_get_traffic(
    shared_controller: Controller, tmp_path: Path
) -> None:
    ctl = shared_controller
    ctl.cli("apps", "create", "scaled")
    deploy_dir(ctl, "scaled", write_static_app(tmp_path / "app", body="scaled"))
    ctl.cli("ps", "scale", "scaled", "web=3")
    info = json.loads(ctl.cli("apps", "info", "scaled", "--json").stdout)
    running = [c for c in info["containers"] if c["state"] == "running"]
    assert len(running) == 3 and info["web_scale"] == 3
    hosts = {ctl.get_app("scaled", "/host.txt").text.strip() for _ in range(60)}
    assert len(hosts) == 3

    with LoadClient(ctl.http_port, f"scaled.{BASE_DOMAIN}") as load:
        load.wait_for(50)
        ctl.cli("ps", "restart", "scaled")
        ctl.cli("ps", "scale", "scaled", "web=1")
        load.wait_for(load.total + 200)
    assert load.failures == 0, (load.statuses, load.errors[:5])
    info = json.loads(ctl.cli("apps", "info", "scaled", "--json").stdout)
    assert len([c for c in info["containers"] if c["state"] == "running"]) == 1


def test_domains_are_routed_and_unique(shared_controller: Controller, tmp_path: Path) -> None:
    ctl = shared_controller
    ctl.cli("apps", "create", "dom-a")
    ctl.cli("apps", "create", "dom-b")
    deploy_dir(ctl, "dom-a", write_static_app(tmp_path / "app", body="dom-a"))
    ctl.cli("domains", "add", "dom-a", "Shop.Example.COM")
    response = ctl.api("GET", "/apps/dom-a")
    assert "shop.example.com" in response.json()["domains"]
    via_nginx = ctl.get_app("dom-a", headers={"Host": "shop.example.com"})
    assert via_nginx.text.strip() == "dom-a"
    taken = ctl.cli("domains", "add", "dom-b", "shop.example.com", check=False)
    assert taken.returncode != 0 and "409" in taken.stderr
    ctl.cli("domains", "remove", "dom-a", "shop.example.com")
    assert ctl.get_app("dom-a", headers={"Host": "shop.example.com"}).status_code == 404


def test_container_logs_and_stored_deploy_logs(shared_controller: Controller, tmp_path: Path) -> None:
    ctl = shared_controller
    ctl.cli("apps", "create", "logged")
    deploy_dir(ctl, "logged", write_static_app(tmp_path / "app", body="logged"))
    assert "listening-on-8080" in ctl.cli("logs", "logged").stdout

    follower = subprocess.Popen(
        [DOCKYARD, "logs", "logged", "-f", "--tail", "0"], env=ctl.env, stdout=subprocess.PIPE, text=True
    )
    try:
        client = docker.from_env()
        (container,) = client.containers.list(
            filters={"label": [f"io.dockyard.instance={ctl.instance}", "io.dockyard.app=logged"]}
        )
        assert follower.stdout is not None
        deadline = time.monotonic() + 30
        seen = ""
        while "followed-line" not in seen and time.monotonic() < deadline:
            container.exec_run(["sh", "-c", "echo followed-line > /proc/1/fd/1"])
            ready, _, _ = select.select([follower.stdout], [], [], 1)
            if ready:
                seen += follower.stdout.readline()
        assert "followed-line" in seen
        client.close()
    finally:
        follower.kill()
        follower.wait(10)

    deploys = json.loads(ctl.cli("deploys", "list", "logged", "--json").stdout)
    assert [d["status"] for d in deploys] == ["succeeded"]
    build = deploys[-1]
    shown = ctl.cli("deploys", "show", build["id"]).stdout
    assert "Step 1/" in shown and "is live" in shown


def test_config_releases_do_not_push_builds_out_of_retention(tmp_path: Path, busybox_image: str) -> None:
    """Retention counts images, not releases; `releases` tells which release lost its image."""
    ctl = make_controller(tmp_path, DOCKYARD_KEEP_RELEASES="2")
    ctl.start()
    try:
        ctl.cli("apps", "create", "kept")
        deploy_dir(ctl, "kept", write_static_app(tmp_path / "a", body="a"))
        deploy_dir(ctl, "kept", write_static_app(tmp_path / "b", body="b"))
        for n in range(3):  # v3-v5 reuse b's image
            ctl.cli("config", "set", "kept", f"N={n}")
        ctl.cli("rollback", "kept", "--to", "1")
        assert ctl.get_app("kept").text.strip() == "a"
        releases = json.loads(ctl.cli("releases", "kept", "--json").stdout)
        assert [(r["number"], r["image_available"]) for r in releases] == [(n, True) for n in (5, 4, 3, 2, 1)]

        deploy_dir(ctl, "kept", write_static_app(tmp_path / "c", body="c"))  # v6: keeps c and b
        releases = json.loads(ctl.cli("releases", "kept", "--json").stdout)
        assert {r["number"]: r["image_available"] for r in releases} == {
            6: True,
            5: True,
            4: True,
            3: True,
            2: True,
            1: False,
        }
        listed = ctl.cli("releases", "kept").stdout.splitlines()
        assert [line.split()[0] for line in listed if "image pruned" in line] == ["v1"]
        refused = ctl.cli("rollback", "kept", "--to", "1", check=False)
        assert refused.returncode != 0 and "was pruned" in refused.stderr
        ctl.cli("rollback", "kept", "--to", "3")
        assert ctl.get_app("kept").text.strip() == "b"
    finally:
        ctl.cleanup()
