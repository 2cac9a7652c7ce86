"""Every route, called as nobody, a viewer, a developer scoped to another app and an admin.

What each role may do comes from one table keyed by route: a new route missing from it
fails `test_the_table_covers_every_route`.
"""

import base64
import re
from typing import Any

import pytest

from controller.domain.access import Action
from tests.api.conftest import AUTH, Bed
from tests.api.test_auth import PROTECTED

R, W, A = Action.READ, Action.OPERATE, Action.ADMINISTER  # read, write (operate), administer
HOOK = "hook"  # the git hooks' routes: the hook token or an unscoped admin
GIT = "git"  # smart HTTP: checked in test_git_http_needs_deploy_rights
REQUIRED: dict[tuple[str, str], Action | str] = {
    ("GET", "/api/v1/apps"): R,
    ("POST", "/api/v1/apps"): A,
    ("GET", "/api/v1/apps/{name}"): R,
    ("DELETE", "/api/v1/apps/{name}"): A,
    ("GET", "/api/v1/apps/{name}/ps"): R,
    ("GET", "/api/v1/apps/{name}/stats"): R,
    ("GET", "/api/v1/apps/{name}/domains"): R,
    ("POST", "/api/v1/apps/{name}/domains"): W,
    ("DELETE", "/api/v1/apps/{name}/domains/{domain}"): W,
    ("GET", "/api/v1/apps/{name}/config"): R,
    ("PATCH", "/api/v1/apps/{name}/config"): W,
    ("GET", "/api/v1/apps/{name}/releases"): R,
    ("POST", "/api/v1/apps/{name}/rollback"): W,
    ("POST", "/api/v1/apps/{name}/redeploy"): W,
    ("POST", "/api/v1/apps/{name}/scale"): W,
    ("POST", "/api/v1/apps/{name}/restart"): W,
    ("GET", "/api/v1/apps/{name}/logs"): R,
    ("POST", "/api/v1/apps/{name}/deploys"): W,
    ("GET", "/api/v1/apps/{name}/deploys"): R,
    ("GET", "/api/v1/deploys"): R,
    ("POST", "/api/v1/deploys/{deploy_id}/cancel"): W,
    ("GET", "/api/v1/events"): R,
    ("GET", "/api/v1/deploys/{deploy_id}"): R,
    ("GET", "/api/v1/deploys/{deploy_id}/log"): R,
    ("GET", "/api/v1/system/df"): A,
    ("POST", "/api/v1/system/prune"): A,
    ("GET", "/api/v1/apps/{name}/certs"): R,
    ("POST", "/api/v1/apps/{name}/certs/issue"): W,
    ("POST", "/api/v1/apps/{name}/certs/renew"): W,
    ("PUT", "/api/v1/apps/{name}/certs/redirect"): W,
    ("GET", "/api/v1/keys"): A,
    ("POST", "/api/v1/keys"): A,
    ("DELETE", "/api/v1/keys/{name}"): A,
    ("GET", "/api/v1/apps/{name}/source"): W,
    ("PUT", "/api/v1/apps/{name}/source"): W,
    ("POST", "/api/v1/git/apps/{name}/access"): HOOK,
    ("POST", "/api/v1/git/apps/{name}/pushes"): HOOK,
    ("POST", "/api/v1/git/apps/{name}/deploys"): HOOK,
    ("GET", "/git/{repo}/{rest:path}"): GIT,
    ("POST", "/git/{repo}/{rest:path}"): GIT,
    ("GET", "/api/v1/users"): A,
    ("POST", "/api/v1/users"): A,
    ("PUT", "/api/v1/users/{name}"): A,
    ("PUT", "/api/v1/users/{name}/password"): A,
    ("DELETE", "/api/v1/users/{name}"): A,
    ("GET", "/api/v1/tokens"): A,
    ("POST", "/api/v1/tokens"): A,
    ("DELETE", "/api/v1/tokens/{token}"): A,
    ("GET", "/api/v1/audit"): W,
    ("DELETE", "/api/v1/session"): R,
    ("GET", "/api/v1/whoami"): R,
}
# Routes without an app in the path: a developer scoped to another app may use the READ ones
# (its lists show only its apps) and the audit log (only its apps' events).
APP_LESS = {
    "/api/v1/apps",
    "/api/v1/deploys",
    "/api/v1/events",
    "/api/v1/system/df",
    "/api/v1/system/prune",
    "/api/v1/keys",
    "/api/v1/keys/{name}",
    "/api/v1/audit",
    "/api/v1/session",
    "/api/v1/whoami",
}
APP_LESS |= {path for _, path in REQUIRED if path.startswith(("/api/v1/users", "/api/v1/tokens"))}
ROUTED = [endpoint for endpoint in PROTECTED if REQUIRED.get(endpoint) not in (GIT,)]


def test_the_table_covers_every_route() -> None:
    assert sorted(set(PROTECTED) - set(REQUIRED)) == [], "declare what the new route needs in REQUIRED"
    assert sorted(set(REQUIRED) - set(PROTECTED)) == []


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _people(bed: Bed) -> dict[str, dict[str, str]]:
    accounts = bed.services.accounts
    accounts.users.add("vera", role="viewer", password="viewer-password")
    accounts.users.add("dave", role="developer", apps=["other"], password="developer-password")
    _, viewer = accounts.tokens.create("vera-cli", user="vera")
    _, developer = accounts.tokens.create("dave-cli", user="dave")
    return {"viewer": _bearer(viewer), "developer": _bearer(developer)}


def _url(path: str, deploy_id: str) -> str:
    samples = {"name": "web", "deploy_id": deploy_id, "domain": "web.example.com", "token": "ci"}
    return re.sub(r"\{([^}:]+)[^}]*\}", lambda m: samples[m.group(1)], path)


def _status(bed: Bed, method: str, url: str, headers: dict[str, str]) -> int:
    body: dict[str, Any] = {}
    with bed.client.stream(method, url, headers=headers, json=body if method != "GET" else None) as response:
        status: int = response.status_code
        return status


@pytest.mark.parametrize(("method", "path"), ROUTED, ids=[f"{m} {p}" for m, p in ROUTED])
def test_each_role_gets_what_the_table_says(bed: Bed, method: str, path: str) -> None:
    bed.create_app("web")
    bed.create_app("other")
    deploy_id = bed.deploy("web")["id"]
    people = _people(bed)
    need = REQUIRED[(method, path)]
    url = _url(path, deploy_id)

    assert _status(bed, method, url, {}) == 401
    viewer = _status(bed, method, url, people["viewer"])
    developer = _status(bed, method, url, people["developer"])
    if need is HOOK:
        assert (viewer, developer) == (403, 403)
    else:
        assert isinstance(need, Action)
        assert (viewer == 403) is (need is not R), viewer
        developer_may = need is not A and path in APP_LESS
        assert (developer == 403) is not developer_may, developer
    admin = _status(bed, method, url, AUTH)
    assert admin not in (401, 403) and admin < 500, admin


def test_lists_show_a_scoped_token_only_its_apps(bed: Bed) -> None:
    bed.create_app("web")
    bed.create_app("other")
    bed.deploy("web")
    bed.deploy("other")
    people = _people(bed)
    apps = bed.client.get("/api/v1/apps", headers=people["developer"]).json()
    assert [a["name"] for a in apps] == ["other"]
    deploys = bed.client.get("/api/v1/deploys", headers=people["developer"]).json()
    assert {d["app"] for d in deploys} == {"other"}
    assert len(bed.client.get("/api/v1/deploys", headers=people["viewer"]).json()) == 2


def test_config_values_need_a_developer(bed: Bed) -> None:
    bed.create_app("web")
    bed.create_app("other")
    people = _people(bed)
    assert bed.client.get("/api/v1/apps/web/config", headers=people["viewer"]).status_code == 200
    revealed = bed.client.get("/api/v1/apps/web/config?reveal=true", headers=people["viewer"])
    assert revealed.status_code == 403


def test_git_http_needs_deploy_rights_to_push(bed: Bed) -> None:
    bed.create_app("web")
    bed.create_app("other")
    people = _people(bed)

    def basic(headers: dict[str, str]) -> dict[str, str]:
        secret = headers["Authorization"].removeprefix("Bearer ")
        return {"Authorization": "Basic " + base64.b64encode(f"git:{secret}".encode()).decode()}

    push = "/git/web.git/info/refs?service=git-receive-pack"
    viewer = bed.client.get(push, headers=basic(people["viewer"]))
    assert viewer.status_code == 403 and "viewer" in viewer.text
    assert bed.client.get(push, headers=basic(people["developer"])).status_code == 403
    assert bed.client.get(push, headers=basic(AUTH)).status_code == 200
