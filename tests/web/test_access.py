"""What a session's principal may do in the GUI: every route declares its need (`needs`), a
refusal is a 403 page and changes nothing, and a scoped principal sees only its apps."""

import pytest
from fastapi.testclient import TestClient

from controller.api.app import create_app
from tests.api.conftest import Bed
from tests.api.test_auth import _concrete
from tests.web.conftest import Browser, add_user, browser_of
from tests.web.test_auth import PROTECTED

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
    refused = scoped.get("/apps/shop")
    assert refused.status_code == 403
    assert "may not use app" in refused.text
    assert scoped.post("/apps/shop/config", {"key": "A", "value": "1"}).status_code == 403
    assert scoped.bed.services.apps.config("shop", reveal=True) == {}
    assert scoped.post("/apps/web/config", {"key": "A", "value": "1"}).status_code == 303


def test_a_scoped_developer_may_not_read_a_deploy_of_another_app(scoped: Browser) -> None:
    deploy = scoped.bed.deploy("shop")
    assert scoped.get(f"/deploys/{deploy['id']}").status_code == 403
    assert scoped.get(f"/live/deploys/{deploy['id']}/log").status_code == 403
    mine = scoped.bed.deploy("web")
    assert scoped.get(f"/deploys/{mine['id']}").status_code == 200


def test_a_developer_may_not_create_apps(bed: Bed) -> None:
    add_user(bed, "dev", "developer")
    dev = browser_of(bed, "dev", TestClient(bed.client.app))
    assert dev.post("/apps", {"name": "new"}).status_code == 403
    assert bed.services.apps.all() == []
