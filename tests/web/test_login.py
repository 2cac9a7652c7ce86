"""Logging in with the API token, the session cookie, logging out, and what needs a session."""

from tests.api.conftest import Bed
from tests.web.conftest import Browser, csrf_of, log_in


def test_a_page_without_a_session_redirects_to_login(bed: Bed) -> None:
    response = bed.client.get("/apps/web?x=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/apps/web?x=1"


def test_htmx_requests_without_a_session_are_told_to_go_to_login(bed: Bed) -> None:
    response = bed.client.get("/partials/apps", headers={"HX-Request": "true"}, follow_redirects=False)
    assert response.status_code == 401
    assert response.headers["hx-redirect"] == "/login"


def test_login_sets_an_httponly_lax_session_cookie(bed: Bed) -> None:
    response = log_in(bed.client)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("dockyard_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http here; https sets Secure
    assert bed.client.get("/", follow_redirects=False).status_code == 200


def test_a_wrong_token_is_refused_next_to_the_field(bed: Bed) -> None:
    response = log_in(bed.client, token="not-the-token")
    assert response.status_code == 401
    assert "that token is not valid" in response.text
    assert bed.client.get("/", follow_redirects=False).status_code == 303


def test_login_without_its_form_token_is_refused(bed: Bed) -> None:
    from tests.api.conftest import TOKEN

    response = bed.client.post("/login", data={"token": TOKEN}, follow_redirects=False)
    assert response.status_code == 403
    assert "dockyard_session" not in response.headers.get("set-cookie", "")


def test_login_goes_back_only_to_a_path_of_this_site(bed: Bed) -> None:
    page = bed.client.get("/login?next=//evil.example/x")
    assert 'name="next" value="/"' in page.text
    page = bed.client.get("/login?next=/apps/web")
    assert 'name="next" value="/apps/web"' in page.text


def test_a_forged_session_cookie_is_not_a_session(bed: Bed) -> None:
    bed.client.cookies.set(
        "dockyard_session", "eyJ3aG8iOiJhZG1pbiIsImV4cCI6OTk5OTk5OTk5OSwibiI6IngifQ==.AAAA"
    )
    assert bed.client.get("/", follow_redirects=False).status_code == 303


def test_logout_needs_the_csrf_token_then_ends_the_session(browser: Browser) -> None:
    assert browser.post("/logout", csrf=False).status_code == 403
    assert browser.get("/").status_code == 200
    response = browser.post("/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert browser.get("/").status_code == 303


def test_each_login_gets_its_own_csrf_token(bed: Bed) -> None:
    log_in(bed.client)
    first = csrf_of(bed.client.get("/").text)
    log_in(bed.client)
    assert csrf_of(bed.client.get("/").text) != first
