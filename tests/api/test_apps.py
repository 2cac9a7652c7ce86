"""Routes of apps: create, list, info, destroy, domains, config, releases, rollback, scale,
restart, logs; each with its refusals, which change nothing."""

import pytest

from tests.api.conftest import Bed


def test_create_list_info_destroy(bed: Bed) -> None:
    created = bed.create_app("web")
    assert created["name"] == "web" and created["current_release"] is None
    assert [app["name"] for app in bed.get("/api/v1/apps").json()] == ["web"]
    info = bed.get("/api/v1/apps/web").json()
    assert info["status"] == "not-deployed" and info["release"] is None and info["containers"] == []

    assert bed.delete("/api/v1/apps/web").status_code == 204
    assert bed.get("/api/v1/apps").json() == []
    assert bed.get("/api/v1/apps/web").status_code == 404


def test_a_taken_name_is_a_conflict(bed: Bed) -> None:
    bed.create_app("web")
    response = bed.post("/api/v1/apps", json={"name": "web"})
    assert response.status_code == 409
    assert "web" in response.json()["detail"]


@pytest.mark.parametrize(
    "name", ["", "Web", "-web", "web_1", "a" * 64, "../etc", "web;rm", "web app", "wéb", "api\n"]
)
def test_an_invalid_name_is_refused_and_nothing_is_created(bed: Bed, name: str) -> None:
    response = bed.post("/api/v1/apps", json={"name": name})
    assert response.status_code in (400, 422), response.text
    assert bed.get("/api/v1/apps").json() == []


@pytest.mark.parametrize(
    "body", [{}, {"name": 5}, {"name": None}, {"name": "x" * 201}, [], "web", {"names": "web"}]
)
def test_a_malformed_body_is_a_422(bed: Bed, body: object) -> None:
    assert bed.post("/api/v1/apps", json=body).status_code == 422
    assert bed.get("/api/v1/apps").json() == []


def test_unknown_apps_are_404_on_every_app_route(bed: Bed) -> None:
    for method, url, body in [
        ("GET", "/api/v1/apps/ghost", None),
        ("DELETE", "/api/v1/apps/ghost", None),
        ("POST", "/api/v1/apps/ghost/domains", {"domain": "ghost.example.com"}),
        ("DELETE", "/api/v1/apps/ghost/domains/ghost.example.com", None),
        ("GET", "/api/v1/apps/ghost/config", None),
        ("PATCH", "/api/v1/apps/ghost/config", {"set": {"A": "1"}}),
        ("GET", "/api/v1/apps/ghost/releases", None),
        ("POST", "/api/v1/apps/ghost/rollback", {}),
        ("POST", "/api/v1/apps/ghost/scale", {"web": 2}),
        ("POST", "/api/v1/apps/ghost/restart", None),
        ("GET", "/api/v1/apps/ghost/logs", None),
        ("GET", "/api/v1/apps/ghost/stats", None),
        ("GET", "/api/v1/apps/ghost/deploys", None),
        ("POST", "/api/v1/apps/ghost/deploys", None),
        ("GET", "/api/v1/apps/ghost/certs", None),
        ("GET", "/api/v1/apps/ghost/source", None),
    ]:
        response = bed.client.request(method, url, json=body, headers={"Authorization": bed_token(bed)})
        assert response.status_code == 404, (method, url, response.status_code, response.text)
        assert "ghost" in response.json()["detail"], (method, url)


def bed_token(bed: Bed) -> str:
    return f"Bearer {bed.services.admin_token}"


def test_domains_are_added_routed_and_removed(bed: Bed) -> None:
    bed.create_app("web")
    added = bed.post("/api/v1/apps/web/domains", json={"domain": "Web.Example.com"})
    assert added.status_code == 201, added.text
    assert added.json()["domains"] == ["web.example.com"]
    assert bed.proxy.sites is not None
    assert [site.domains for site in bed.proxy.sites] == [("web.example.com",)]

    assert bed.post("/api/v1/apps/web/domains", json={"domain": "web.example.com"}).status_code == 409
    bed.create_app("other")
    assert bed.post("/api/v1/apps/other/domains", json={"domain": "web.example.com"}).status_code == 409

    removed = bed.delete("/api/v1/apps/web/domains/web.example.com")
    assert removed.status_code == 200 and removed.json()["domains"] == []
    assert bed.delete("/api/v1/apps/web/domains/web.example.com").status_code == 404
    assert bed.proxy.sites == []


@pytest.mark.parametrize(
    "domain",
    [
        "a.com; include /etc/shadow",
        "a.com\nserver_name evil",
        "a.com}",
        "-a.com",
        "a..com",
        "a" * 64 + ".com",
        "*.a.com",
        "a.com/path",
        "http://a.com",
        "a.com:80",
        "",
        "x" * 301,
    ],
)
def test_a_hostile_domain_never_reaches_the_proxy(bed: Bed, domain: str) -> None:
    bed.create_app("web")
    applies = bed.proxy.applies
    response = bed.post("/api/v1/apps/web/domains", json={"domain": domain})
    assert response.status_code in (400, 422), response.text
    assert bed.proxy.applies == applies
    assert bed.get("/api/v1/apps/web").json()["domains"] == []


def test_a_domain_the_proxy_refuses_is_not_kept(bed: Bed) -> None:
    bed.create_app("web")
    bed.proxy.refuse = "nginx: [emerg] refused (fake)"
    response = bed.post("/api/v1/apps/web/domains", json={"domain": "web.example.com"})
    assert response.status_code == 500
    assert "refused" in response.json()["detail"]
    assert bed.get("/api/v1/apps/web").json()["domains"] == []


def test_config_before_the_first_deploy_is_saved_and_masked(bed: Bed) -> None:
    bed.create_app("web")
    change = bed.patch("/api/v1/apps/web/config", json={"set": {"GREETING": "hi", "PORT": "8080"}})
    assert change.status_code == 202, change.text
    assert bed.finished(change.json()["id"])["status"] == "succeeded"
    assert bed.get("/api/v1/apps/web/config").json() == {"GREETING": "********", "PORT": "********"}
    assert bed.get("/api/v1/apps/web/config", params={"reveal": "true"}).json()["GREETING"] == "hi"

    unset = bed.patch("/api/v1/apps/web/config", json={"unset": ["GREETING"]})
    assert bed.finished(unset.json()["id"])["status"] == "succeeded"
    assert bed.get("/api/v1/apps/web/config", params={"reveal": "true"}).json() == {"PORT": "8080"}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"set": {}, "unset": []},
        {"set": {"1BAD": "x"}},
        {"set": {"BAD-KEY": "x"}},
        {"set": {"A B": "x"}},
        {"set": {"A": "nul\x00byte"}},
        {"unset": ["no;pe"]},
        {"set": "A=1"},
    ],
)
def test_a_bad_config_change_is_refused_and_queues_nothing(bed: Bed, body: object) -> None:
    bed.create_app("web")
    response = bed.patch("/api/v1/apps/web/config", json=body)
    assert response.status_code in (400, 422), response.text
    assert bed.get("/api/v1/apps/web/deploys").json() == []


def test_deploy_config_scale_restart_rollback_and_logs(bed: Bed) -> None:
    bed.create_app("web")
    first = bed.deploy("web")
    assert first["status"] == "succeeded", first["log"]
    assert first["release_number"] == 1
    info = bed.get("/api/v1/apps/web").json()
    assert info["status"] == "running" and info["release"]["number"] == 1
    assert len(info["containers"]) == 1

    config = bed.patch("/api/v1/apps/web/config", json={"set": {"GREETING": "hello"}})
    assert bed.finished(config.json()["id"])["release_number"] == 2

    scaled = bed.finished(bed.post("/api/v1/apps/web/scale", json={"web": 3}).json()["id"])
    assert scaled["status"] == "succeeded", scaled["log"]
    assert len(bed.runtime.list_containers("web")) == 3
    assert bed.get("/api/v1/apps/web").json()["web_scale"] == 3

    before = {c.id for c in bed.runtime.list_containers("web")}
    restarted = bed.finished(bed.post("/api/v1/apps/web/restart").json()["id"])
    assert restarted["status"] == "succeeded", restarted["log"]
    assert not before & {c.id for c in bed.runtime.list_containers("web")}

    logs = bed.get("/api/v1/apps/web/logs", params={"tail": 5})
    assert logs.status_code == 200
    assert logs.text.count("hello from") == 3

    rolled = bed.finished(bed.post("/api/v1/apps/web/rollback", json={}).json()["id"])
    assert rolled["status"] == "succeeded", rolled["log"]
    releases = bed.get("/api/v1/apps/web/releases").json()
    assert [(r["number"], r["current"]) for r in releases] == [(2, False), (1, True)]
    assert all(r["image_available"] for r in releases)
    assert bed.get("/api/v1/apps/web/config", params={"reveal": "true"}).json() == {}

    assert bed.delete("/api/v1/apps/web").status_code == 204
    assert bed.runtime.list_containers("web") == []
    assert bed.runtime.images.get("web") == set()


def test_changes_that_need_a_release_are_refused_before_the_first_deploy(bed: Bed) -> None:
    bed.create_app("web")
    requests: list[tuple[str, object]] = [
        ("/api/v1/apps/web/rollback", {}),
        ("/api/v1/apps/web/restart", None),
    ]
    for url, body in requests:
        response = bed.post(url, json=body)
        assert response.status_code == 400, (url, response.text)
        assert "no release" in response.json()["detail"]
    assert bed.get("/api/v1/apps/web/deploys").json() == []


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/apps/web/scale", {"web": -1}),
        ("/api/v1/apps/web/scale", {"web": 10_000}),
        ("/api/v1/apps/web/scale", {"web": "many"}),
        ("/api/v1/apps/web/scale", {}),
        ("/api/v1/apps/web/rollback", {"to": "v1"}),
        ("/api/v1/apps/web/rollback", {"to": 7}),
    ],
)
def test_bad_scale_and_rollback_requests_change_nothing(bed: Bed, url: str, body: object) -> None:
    bed.create_app("web")
    bed.deploy("web")
    response = bed.post(url, json=body)
    assert response.status_code in (400, 404, 422), response.text
    assert len(bed.get("/api/v1/apps/web/deploys").json()) == 1
    assert bed.get("/api/v1/apps/web").json()["web_scale"] == 1


def test_logs_tail_is_bounded(bed: Bed) -> None:
    bed.create_app("web")
    assert bed.get("/api/v1/apps/web/logs", params={"tail": -1}).status_code == 422
    assert bed.get("/api/v1/apps/web/logs", params={"tail": 10_001}).status_code == 422
    assert bed.get("/api/v1/apps/web/logs").text == ""
