"""What a session's principal may do in the GUI: every route declares its need (`needs`), a
refusal is a 403 page and changes nothing, and a scoped principal sees only its apps."""

import re

import pytest
from fastapi.testclient import TestClient

from controller.api.app import create_app
from tests.api.conftest import Bed
from tests.web.conftest import Browser, add_user, browser_of
from tests.web.test_auth import PROTECTED, _concrete

# Every GUI route that changes something, with what a viewer posting it anyway sends.
CHANGES = [(m, p) for m, p in PROTECTED if m == "POST" and p != "/logout"]


@pytest.fixture
def viewer(bed: Bed) -> Browser:
    bed.create_app("web")
    add_user(bed, "vera", "viewer")
    return browser_of(bed, "vera")


@pytest.fixture
def scoped(bed: Bed) -> Browser:
    """A developer who may use `web` only; `shop` exists too."""
    bed.create_app("web")
    bed.create_app("shop")
    add_user(bed, "dora", "developer", ["web"])
    return browser_of(bed, "dora")


def test_every_gui_route_declares_what_it_needs() -> None:
    """Each route has a `needs(...)` dependency (or is the login form / logout)."""
    for route in create_app().routes:
        path = getattr(route, "path", "")
        dependant = getattr(route, "dependant", None)
        if dependant is None or path.startswith(("/api/", "/git/", "/hooks/", "/openapi", "/static")):
            continue
        if path in ("/login", "/logout", "/api/docs"):
            continue
        names = {getattr(d.call, "__qualname__", "") for d in dependant.dependencies}
        assert any(name.startswith("needs.") for name in names), path


@pytest.mark.parametrize(("method", "path"), CHANGES, ids=[f"{m} {p}" for m, p in CHANGES])
def test_a_viewer_posting_anyway_gets_a_403_page_and_nothing_changes(
    viewer: Browser, method: str, path: str
) -> None:
    before = viewer.bed.services.apps.all()
    form = {"name": "new", "key": "A", "value": "1", "domain": "x.example.com", "web": "2", "to": "1"}
    response = viewer.post(_concrete(path), form)
    assert response.status_code == 403, response.text
    assert "Not allowed" in response.text and "viewer" in response.text
    assert "<html" in response.text  # a page, not JSON
    assert viewer.bed.services.apps.all() == before
    assert viewer.bed.services.apps.config("web", reveal=True) == {}


def test_a_viewer_reads_the_dashboard_and_the_app_page(viewer: Browser) -> None:
    assert 'data-app="web"' in viewer.get("/").text
    assert viewer.get("/apps/web").status_code == 200


def test_a_scoped_developer_sees_only_its_apps(scoped: Browser) -> None:
    dashboard = scoped.get("/").text
    assert 'data-app="web"' in dashboard
    assert 'data-app="shop"' not in dashboard
    assert 'data-app="shop"' not in scoped.get("/partials/apps").text
    assert scoped.get("/partials/apps/shop/row").status_code == 403
    refused = scoped.get("/apps/shop")
    assert refused.status_code == 403
    assert "may not use app" in refused.text
    assert scoped.post("/apps/shop/config", {"key": "A", "value": "1"}).status_code == 403
    assert scoped.bed.services.apps.config("shop", reveal=True) == {}
    assert scoped.post("/apps/web/config", {"key": "A", "value": "1"}).status_code == 303


def test_a_scoped_developer_may_not_read_a_deploy_of_another_app(scoped: Browser) -> None:
    deploy = scoped.bed.deploy("shop")
    assert scoped.get(f"/deploys/{deploy['id']}").status_code == 403
    assert scoped.get(f"/live/deploys/{deploy['id']}/lines").status_code == 403
    mine = scoped.bed.deploy("web")
    assert scoped.get(f"/deploys/{mine['id']}").status_code == 200


def test_a_developer_may_not_create_apps(bed: Bed) -> None:
    add_user(bed, "dev", "developer")
    dev = browser_of(bed, "dev", TestClient(bed.client.app))
    assert dev.post("/apps", {"name": "new"}).status_code == 403
    assert bed.services.apps.all() == []


MUTATING = ("Roll back", ">Restart<", ">Scale<", ">Set<", ">Add<", ">Remove<")
POST_ACTION = re.compile(r'<form method="post" action="([^"]*)"')
BUTTON = re.compile(r"<button[^>]*>([^<]*)</button>")


def test_a_viewer_sees_no_mutating_control(viewer: Browser) -> None:
    bed = viewer.bed
    bed.services.apps.add_domain("web", "web.example.com")
    bed.deploy("web")
    bed.deploy("web")  # v2: v1 could be rolled back to
    bed.services.deploys.submit_config_change("web", set_={"A": "1"}, unset=[]).result()
    for url in ("/", "/apps/web", "/partials/apps"):
        page = viewer.get(url).text
        assert set(POST_ACTION.findall(page)) <= {"/logout"}, url
        # Copy buttons (type="button": the git remote lines, webhook URLs) change nothing.
        assert set(BUTTON.findall(page)) <= {"Filter", "Log out (vera)", "Copy"}, url
    assert "Log out (vera)" in viewer.get("/").text  # its own session form stays
    assert "web.example.com" in viewer.get("/apps/web").text  # what it may read is shown


def test_an_admin_sees_every_control(browser: Browser) -> None:
    bed = browser.bed
    bed.create_app("web")
    bed.services.apps.add_domain("web", "web.example.com")
    bed.deploy("web")
    bed.deploy("web")
    page = browser.get("/apps/web").text
    for control in MUTATING[1:]:
        assert control in page, control
    assert '<form method="post" action="/apps" class="create">' in browser.get("/").text


def test_a_scoped_developer_hears_only_of_its_apps_on_the_live_stream(scoped: Browser) -> None:
    from tests.web.test_live import sse_blocks

    bed = scoped.bed
    with scoped.client.stream("GET", "/live/events") as stream:
        assert stream.status_code == 200
        chunks = stream.iter_raw()
        assert next(chunks).startswith(b": connected")
        bed.services.deploys.submit_config_change("shop", set_={"A": "1"}, unset=[]).result()
        bed.services.deploys.submit_config_change("web", set_={"A": "1"}, unset=[]).result()
        apps: list[object] = []
        for chunk in chunks:
            apps += [data.get("app") for _, data in sse_blocks(chunk.decode()) if isinstance(data, dict)]
            if "web" in apps:
                break
    assert "shop" not in apps
