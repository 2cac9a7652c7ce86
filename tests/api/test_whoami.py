"""GET /api/v1/whoami: the principal of the request and what it may do, decided like the routes."""

from typing import Any

from tests.api.conftest import AUTH, Bed

PASSWORD = "correct horse battery"


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _whoami(bed: Bed, headers: dict[str, str], app: str | None = None) -> dict[str, Any]:
    response = bed.client.get("/api/v1/whoami", headers=headers, params={"app": app} if app else {})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_admin_token_may_do_everything(bed: Bed) -> None:
    me = _whoami(bed, AUTH)
    assert me["role"] == "admin" and me["apps"] is None and me["app"] is None
    assert me["actions"] == ["read", "operate", "administer"]
    assert _whoami(bed, AUTH, app="anything")["actions"] == ["read", "operate", "administer"]


def test_a_viewers_token_may_only_read(bed: Bed) -> None:
    bed.services.accounts.users.add("vera", role="viewer", password=PASSWORD)
    _, secret = bed.services.accounts.tokens.create("vera-cli", user="vera")
    me = _whoami(bed, _bearer(secret))
    assert me == {
        "name": "vera-cli",
        "kind": "token",
        "user": "vera",
        "role": "viewer",
        "apps": None,
        "app": None,
        "actions": ["read"],
    }
    assert _whoami(bed, _bearer(secret), app="web")["actions"] == ["read"]


def test_a_scoped_developer_may_operate_its_apps_only(bed: Bed) -> None:
    for name in ("web", "other", "blog"):
        bed.create_app(name)
    bed.services.accounts.users.add("dave", role="developer", apps=["other", "blog"], password=PASSWORD)
    _, secret = bed.services.accounts.tokens.create("dave-cli", user="dave")
    me = _whoami(bed, _bearer(secret))
    assert (me["role"], me["apps"], me["actions"]) == ("developer", ["blog", "other"], ["read", "operate"])
    assert _whoami(bed, _bearer(secret), app="other")["actions"] == ["read", "operate"]
    outside = _whoami(bed, _bearer(secret), app="web")
    assert (outside["app"], outside["actions"]) == ("web", [])
    # What it says is what the routes do.
    restart = "/api/v1/apps/{}/restart"
    assert bed.client.post(restart.format("web"), headers=_bearer(secret)).status_code == 403
    assert bed.client.post(restart.format("other"), headers=_bearer(secret)).status_code != 403


def test_a_token_narrows_its_user(bed: Bed) -> None:
    bed.services.accounts.users.add("ada", role="admin", password=PASSWORD)
    _, secret = bed.services.accounts.tokens.create("ada-ci", user="ada", role="viewer")
    me = _whoami(bed, _bearer(secret))
    assert (me["user"], me["role"], me["actions"]) == ("ada", "viewer", ["read"])


def test_a_browser_session_is_its_user(bed: Bed) -> None:
    bed.create_app("web")
    bed.services.accounts.users.add("dave", role="developer", apps=["web"], password=PASSWORD)
    login = bed.client.post("/api/v1/session", json={"user": "dave", "password": PASSWORD})
    assert login.status_code == 200, login.text
    me = bed.client.get("/api/v1/whoami").json()  # the cookie, no bearer
    assert (me["name"], me["kind"], me["user"], me["apps"]) == ("dave", "user", "dave", ["web"])


def test_no_or_a_wrong_token_is_refused(bed: Bed) -> None:
    assert bed.client.get("/api/v1/whoami").status_code == 401
    assert bed.client.get("/api/v1/whoami", headers=_bearer("dy_nope")).status_code == 401
    assert bed.client.get("/api/v1/whoami", params={"app": "x" * 65}, headers=AUTH).status_code == 422
