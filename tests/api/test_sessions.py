"""Browser logins: an HttpOnly SameSite=Lax cookie, a CSRF token for changes, logout, expiry,
revocation by a new password, and failed logins slowed per user and address (issue 9.6)."""

from datetime import UTC, datetime, timedelta

from controller.domain.access import token_digest
from controller.domain.account_records import Session
from tests.api.conftest import Bed

PASSWORD = "correct horse battery"


def _login(bed: Bed, user: str = "dave", password: str = PASSWORD) -> tuple[int, dict[str, str]]:
    response = bed.client.post("/api/v1/session", json={"user": user, "password": password})
    return response.status_code, response.json() if response.status_code == 200 else {}


def test_a_login_sets_a_safe_cookie_and_changes_need_the_csrf_token(bed: Bed) -> None:
    bed.create_app("web")
    bed.services.accounts.users.add("dave", role="developer", apps=["web"], password=PASSWORD)
    response = bed.client.post("/api/v1/session", json={"user": "dave", "password": PASSWORD})
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    session = response.json()
    assert session["role"] == "developer" and session["apps"] == ["web"]
    assert session["csrf_token"] not in cookie
    client = bed.client  # keeps the cookie

    assert client.get("/api/v1/apps").status_code == 200
    domain = {"domain": "web.example.com"}
    no_csrf = client.post("/api/v1/apps/web/domains", json=domain)
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
    wrong = client.post("/api/v1/apps/web/domains", json=domain, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    assert bed.services.apps.get("web").domains == ()
    ok = client.post("/api/v1/apps/web/domains", json=domain, headers={"X-CSRF-Token": session["csrf_token"]})
    assert ok.status_code == 201, ok.text
    assert client.post("/api/v1/apps/other/domains", json=domain).status_code in (403,)

    assert client.delete("/api/v1/session").status_code == 403  # logout is a change: CSRF too
    assert (
        client.delete("/api/v1/session", headers={"X-CSRF-Token": session["csrf_token"]}).status_code == 204
    )
    client.cookies.clear()
    assert client.get("/api/v1/apps").status_code == 401


def test_a_csrf_token_of_another_session_is_refused(bed: Bed) -> None:
    bed.create_app("web")
    bed.services.accounts.users.add("dave", role="developer", password=PASSWORD)
    _, first = _login(bed)
    first_cookie = bed.client.cookies.get("dockyard_session")
    _login(bed)
    assert first_cookie != bed.client.cookies.get("dockyard_session")
    refused = bed.client.post("/api/v1/apps/web/restart", headers={"X-CSRF-Token": first["csrf_token"]})
    assert refused.status_code == 403


def test_a_new_password_and_expiry_end_sessions(bed: Bed) -> None:
    bed.services.accounts.users.add("root", role="admin")
    bed.services.accounts.users.add("dave", role="viewer", password=PASSWORD)
    _login(bed)
    assert bed.client.get("/api/v1/apps").status_code == 200
    bed.services.accounts.users.set_password("dave", "another good one")
    assert bed.client.get("/api/v1/apps").status_code == 401

    past = datetime.now(UTC) - timedelta(minutes=1)
    bed.services.store.add_session(
        Session(
            id_hash=token_digest("old-session"),
            user="dave",
            csrf_hash=token_digest("csrf"),
            created_at=past - timedelta(hours=12),
            expires_at=past,
        )
    )
    bed.client.cookies.set("dockyard_session", "old-session")
    assert bed.client.get("/api/v1/apps").status_code == 401


def test_failed_logins_are_slowed_and_audited_and_say_nothing_about_the_user(bed: Bed) -> None:
    bed.services.accounts.users.add("dave", role="viewer", password=PASSWORD)
    unknown = bed.client.post("/api/v1/session", json={"user": "nobody", "password": "whatever1"})
    wrong = bed.client.post("/api/v1/session", json={"user": "dave", "password": "whatever1"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()
    for _ in range(3):  # five failures from this address in all
        assert _login(bed, password="wrong-password")[0] == 401
    limited = bed.client.post("/api/v1/session", json={"user": "dave", "password": PASSWORD})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    events = bed.get("/api/v1/audit", params={"user": "dave"}).json()
    assert [e["outcome"] for e in events].count("denied") == 5
    assert all(e["action"] == "login" for e in events)
    assert "password" not in str(events).replace('"password"', "")
