"""Logging in with a user name and password: the API's session (one cookie for both), its CSRF
token, throttling, logging out server-side, and what needs a session."""

from tests.api.conftest import Bed
from tests.web.conftest import ADMIN, PASSWORD, Browser, add_user, browser_of, csrf_of, log_in


def test_a_page_without_a_session_redirects_to_login(bed: Bed) -> None:
    response = bed.client.get("/apps/web?x=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/apps/web?x=1"


def test_htmx_requests_without_a_session_are_told_to_go_to_login(bed: Bed) -> None:
    response = bed.client.get("/partials/apps", headers={"HX-Request": "true"}, follow_redirects=False)
    assert response.status_code == 401
    assert response.headers["hx-redirect"] == "/login"


def test_the_login_form_asks_for_a_user_and_a_password(bed: Bed) -> None:
    page = bed.client.get("/login")
    assert 'name="user"' in page.text and 'name="password"' in page.text
    assert 'name="token"' not in page.text


def test_login_sets_an_httponly_lax_session_cookie(bed: Bed) -> None:
    add_user(bed, ADMIN, "admin")
    response = log_in(bed.client)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("dockyard_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http here; https sets Secure
    page = bed.client.get("/", follow_redirects=False)
    assert page.status_code == 200
    assert f"Log out ({ADMIN})" in page.text


def test_a_wrong_password_or_unknown_user_is_refused_next_to_the_field_and_audited(bed: Bed) -> None:
    add_user(bed, ADMIN, "admin")
    for user, password in [(ADMIN, "not-the-password"), ("nobody", PASSWORD)]:
        response = log_in(bed.client, user, password)
        assert response.status_code == 401
        assert "Wrong user name or password." in response.text
        assert f'value="{user}"' in response.text  # the name stays in its field
        assert "dockyard_session" not in response.headers.get("set-cookie", "")
    assert bed.client.get("/", follow_redirects=False).status_code == 303
    audit = bed.get("/api/v1/audit", params={"user": ADMIN}).json()
    assert any(e["outcome"] == "denied" and "/login" in e["detail"] for e in audit)


def test_five_failures_slow_the_login_down_with_a_429_on_the_page(bed: Bed) -> None:
    add_user(bed, ADMIN, "admin")
    for _ in range(5):
        assert log_in(bed.client, ADMIN, "wrong-password").status_code == 401
    response = log_in(bed.client)  # even the right password, for now
    assert response.status_code == 429
    assert "Too many failed logins: try again in" in response.text
    assert int(response.headers["retry-after"]) > 0
    assert bed.client.get("/", follow_redirects=False).status_code == 303


def test_login_without_its_form_token_is_refused(bed: Bed) -> None:
    add_user(bed, ADMIN, "admin")
    response = bed.client.post("/login", data={"user": ADMIN, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 403
    assert "dockyard_session" not in response.headers.get("set-cookie", "")


def test_login_goes_back_only_to_a_path_of_this_site(bed: Bed) -> None:
    page = bed.client.get("/login?next=//evil.example/x")
    assert 'name="next" value="/"' in page.text
    page = bed.client.get("/login?next=/apps/web")
    assert 'name="next" value="/apps/web"' in page.text


def test_a_made_up_session_cookie_is_not_a_session(bed: Bed) -> None:
    bed.client.cookies.set("dockyard_session", "x" * 43)
    assert bed.client.get("/", follow_redirects=False).status_code == 303


def test_the_gui_session_is_a_session_principal_of_the_api(browser: Browser) -> None:
    """One cookie for both: the API takes the GUI's session, and the page's CSRF token."""
    client = browser.client
    assert client.get("/api/v1/apps").status_code == 200
    browser.bed.create_app("web")
    domain = {"domain": "web.example.com"}
    assert client.post("/api/v1/apps/web/domains", json=domain).status_code == 403  # no CSRF token
    added = client.post("/api/v1/apps/web/domains", json=domain, headers={"X-CSRF-Token": browser.csrf})
    assert added.status_code == 201, added.text


def test_an_api_login_opens_the_gui_too(bed: Bed) -> None:
    add_user(bed, ADMIN, "admin")
    session = bed.client.post("/api/v1/session", json={"user": ADMIN, "password": PASSWORD}).json()
    page = bed.client.get("/", follow_redirects=False)
    assert page.status_code == 200
    assert csrf_of(page.text) == session["csrf_token"]


def test_logout_needs_the_csrf_token_then_ends_the_session_server_side(browser: Browser) -> None:
    session_id = browser.client.cookies["dockyard_session"]
    assert browser.post("/logout", csrf=False).status_code == 403
    assert browser.get("/").status_code == 200
    response = browser.post("/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert browser.get("/").status_code == 303
    browser.client.cookies.set("dockyard_session", session_id)  # the old cookie, kept by someone
    assert browser.get("/").status_code == 303
    assert browser.client.get("/api/v1/apps").status_code == 401


def test_a_new_password_ends_the_gui_session(browser: Browser) -> None:
    browser.bed.services.accounts.users.set_password(ADMIN, "another password")
    assert browser.get("/").status_code == 303


def test_each_login_gets_its_own_csrf_token(bed: Bed) -> None:
    add_user(bed, ADMIN, "admin")
    first = csrf_of(browser_of(bed, ADMIN).client.get("/").text)
    assert csrf_of(browser_of(bed, ADMIN).client.get("/").text) != first
