"""Every route refuses a request without credentials or with wrong ones, except the few that are
public by design. The table is built from `app.routes`, so a new route without auth fails here.
"""

import base64
import re

import fastapi.routing
import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Mount, Route

from controller.api.app import create_app
from tests.api.conftest import AUTH, TOKEN, Bed

# Public by design: the health check, webhooks (each checks its provider's signature, see
# test_hooks.py), and the API's own documentation.
PUBLIC = {
    ("GET", "/api/v1/health"),
    ("POST", "/hooks/{provider}/{app}"),
    ("POST", "/api/v1/session"),  # the login: checks the password (test_sessions.py)
    ("GET", "/openapi.json"),
    ("GET", "/api/docs"),
    ("HEAD", "/openapi.json"),
    ("HEAD", "/api/docs"),
}
PUBLIC_MOUNTS = {"/api/docs/assets", "/static"}  # Swagger UI's and the GUI's static files
SAMPLES = {"name": "web", "app": "web", "provider": "github", "deploy_id": "0123456789abcdef"}
SAMPLES |= {"domain": "web.example.com", "repo": "web.git", "rest": "info/refs", "token": "ci"}


def _concrete(path: str) -> str:
    def sample(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        return SAMPLES[name]

    return re.sub(r"\{([^}]+)\}", sample, path)


def _flat_routes() -> list[tuple[str, set[str], BaseRoute]]:
    """(path, methods, route) of every route, those of included routers too."""
    routes = create_app().routes
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    if iterate is None:  # FastAPI before lazy router inclusion: app.routes is already flat
        return [(getattr(r, "path", ""), set(getattr(r, "methods", None) or ()), r) for r in routes]
    return [(c.path or "", set(c.methods or ()), c.original_route) for c in iterate(routes)]


def is_gui(route: BaseRoute) -> bool:
    """A page of the web GUI: sessions, not tokens (tests/web/test_auth.py has its table)."""
    return str(getattr(getattr(route, "endpoint", None), "__module__", "")).startswith("controller.web")


def _endpoints(gui: bool = False) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for path, methods, route in _flat_routes():
        if isinstance(route, Mount):
            assert path in PUBLIC_MOUNTS, f"unexpected mount {path}: is it authenticated?"
            continue
        assert isinstance(route, APIRoute | Route), route
        if is_gui(route) == gui:
            found.extend((method, path) for method in sorted(methods))
    return found


ENDPOINTS = _endpoints()
PROTECTED = [endpoint for endpoint in ENDPOINTS if endpoint not in PUBLIC]


def test_the_table_sees_every_router() -> None:
    paths = {path for _, path in PROTECTED}
    for prefix in (
        "/api/v1/apps",
        "/api/v1/deploys",
        "/api/v1/system",
        "/api/v1/keys",
        "/api/v1/git/",
        "/git/",
    ):
        assert any(path.startswith(prefix) for path in paths), prefix
    assert len(PROTECTED) >= 30


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_every_route_refuses_anonymous_and_wrong_credentials(bed: Bed, method: str, path: str) -> None:
    url = _concrete(path)
    wrong = base64.b64encode(b"user:" + TOKEN.encode() + b"x").decode()
    attempts = {
        "anonymous": {},
        "wrong bearer": {"Authorization": f"Bearer {TOKEN}x"},
        "empty bearer": {"Authorization": "Bearer "},
        "wrong basic": {"Authorization": f"Basic {wrong}"},
        "token as basic user": {"Authorization": "Basic " + base64.b64encode(f"{TOKEN}:".encode()).decode()},
    }
    for label, headers in attempts.items():
        response = bed.client.request(method, url, headers=headers)
        assert response.status_code == 401, (label, response.status_code, response.text)
        assert "WWW-Authenticate" in response.headers, label
    assert bed.services.store.list_apps() == []  # nothing was created on the way


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_the_admin_token_gets_past_auth(bed: Bed, method: str, path: str) -> None:
    """The other half: with the right token the same request is not refused for auth (the
    app does not exist, so it is a 404 or a 4xx about the request, never a 401)."""
    headers = dict(AUTH)
    if path.startswith("/git/"):
        headers = {"Authorization": "Basic " + base64.b64encode(f"user:{TOKEN}".encode()).decode()}
    with bed.client.stream(method, _concrete(path), headers=headers) as response:  # SSE never ends
        assert response.status_code != 401, (response.status_code, response.read())
        assert response.status_code < 500, (response.status_code, response.read())


def test_public_routes_answer_without_credentials(bed: Bed) -> None:
    health = bed.client.get("/api/v1/health")
    assert health.status_code == 200
    assert health.json()["docker"] is True
    assert bed.client.get("/openapi.json").status_code == 200
    assert bed.client.get("/api/docs").status_code == 200
    # The webhook route checks its own signature: unknown app -> refused, not served.
    hook = bed.client.post("/hooks/github/web", content=b"{}")
    assert hook.status_code in (401, 404), hook.text


def test_the_hook_token_opens_only_the_git_internal_routes(bed: Bed) -> None:
    bed.create_app("web")
    hook = {"Authorization": f"Bearer {bed.services.git.hook_token}"}
    access = bed.client.post(
        "/api/v1/git/apps/web/access", json={"service": "git-receive-pack"}, headers=hook
    )
    assert access.status_code == 200, access.text
    assert bed.client.get("/api/v1/apps", headers=hook).status_code == 401
    assert bed.client.get("/api/v1/keys", headers=hook).status_code == 401
