"""Settings (admins only) and the audit page: users, API tokens, SSH keys, system; each change
through the services, errors next to their control, secrets shown once, CSRF and escaping."""

import re

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Bed
from tests.api.test_git import _public_key
from tests.web.conftest import ADMIN, PASSWORD, Browser, add_user, browser_of, log_in
from tests.web.test_pages import HOSTILE

SETTINGS_POSTS = [
    ("/settings/users", {"name": "eve", "role": "admin"}),
    ("/settings/users/root/role", {"role": "viewer"}),
    ("/settings/users/root/password", {}),
    ("/settings/users/root/remove", {}),
    ("/settings/tokens", {"name": "ci", "role": "admin"}),
    ("/settings/tokens/bootstrap-admin/revoke", {}),
    ("/settings/keys", {"name": "k", "public_key": "x"}),
    ("/settings/keys/k/remove", {}),
    ("/settings/system/prune", {}),
]
SECRET = re.compile(r'<code id="new-(?:password|token)" class="secret-value">([^<]+)</code>')


def test_the_nav_shows_settings_and_audit_to_an_admin_only(browser: Browser, bed: Bed) -> None:
    page = browser.get("/").text
    assert 'href="/settings/users"' in page and 'href="/audit"' in page
    add_user(bed, "vera", "viewer")
    viewer = browser_of(bed, "vera")
    page = viewer.get("/").text
    assert 'href="/settings' not in page and 'href="/audit"' not in page


@pytest.mark.parametrize("role", ["viewer", "developer"])
def test_settings_refuse_everyone_but_admins(bed: Bed, role: str) -> None:
    add_user(bed, ADMIN, "admin")
    add_user(bed, "someone", role)
    other = browser_of(bed, "someone")
    for page in ("users", "tokens", "keys", "system"):
        assert other.get(f"/settings/{page}").status_code == 403
    for url, form in SETTINGS_POSTS:
        response = other.post(url, form)
        assert response.status_code == 403, url
        assert "Not allowed" in response.text
    assert {u.name for u in bed.services.accounts.users.all()} == {ADMIN, "someone"}
    assert [t.name for t in bed.services.accounts.tokens.all() if t.revoked_at is None] == ["bootstrap-admin"]


def test_settings_forms_need_the_csrf_token(browser: Browser) -> None:
    for url, form in SETTINGS_POSTS:
        assert browser.post(url, form, csrf=False).status_code == 403, url
    assert browser.get("/settings/users").status_code == 200
    assert [u.name for u in browser.bed.services.accounts.users.all()] == [ADMIN]


def test_an_admin_adds_a_user_sees_its_password_once_and_the_user_logs_in(browser: Browser, bed: Bed) -> None:
    bed.create_app("web")
    page = browser.post("/settings/users", {"name": "dora", "role": "developer", "apps": "web"})
    assert page.status_code == 201
    password = SECRET.search(page.text)
    assert password, page.text
    assert 'data-user="dora"' in page.text
    assert "shown this once" in page.text
    again = browser.get("/settings/users").text
    assert password.group(1) not in again  # never shown again
    assert re.search(r'data-user="dora">.*?developer.*?web', again, re.S)
    assert log_in(TestClient(bed.client.app), "dora", password.group(1)).status_code == 303


def test_adding_a_bad_user_shows_the_error_next_to_the_form(browser: Browser) -> None:
    for form, message in [
        ({"name": "Bad Name", "role": "viewer"}, "is invalid"),
        ({"name": "ok", "role": "boss"}, "unknown role"),
        ({"name": "ok", "role": "viewer", "apps": "nosuchapp"}, "no such app"),
        ({"name": ADMIN, "role": "viewer"}, "exists"),
    ]:
        page = browser.post("/settings/users", form)
        assert 400 <= page.status_code < 500, form
        assert 'id="add-error"' in page.text and message in page.text, (form, page.text[-2000:])
        assert SECRET.search(page.text) is None


def test_changing_a_role_and_the_last_admin_stays(browser: Browser, bed: Bed) -> None:
    add_user(bed, "dev", "developer")
    assert browser.post("/settings/users/dev/role", {"role": "viewer", "apps": ""}).status_code == 303
    assert bed.services.accounts.users.get("dev").role.value == "viewer"
    refused = browser.post(f"/settings/users/{ADMIN}/role", {"role": "viewer"})
    assert refused.status_code == 409
    assert 'id="user-1-error"' in refused.text or 'id="user-2-error"' in refused.text
    assert bed.services.accounts.users.get(ADMIN).role.value == "admin"
    removed = browser.post(f"/settings/users/{ADMIN}/remove")
    assert removed.status_code == 409 and "admin" in removed.text
    assert browser.post("/settings/users/dev/remove").status_code == 303
    assert [u.name for u in bed.services.accounts.users.all()] == [ADMIN]


def test_a_new_password_is_shown_once_and_ends_the_users_sessions(browser: Browser, bed: Bed) -> None:
    add_user(bed, "dev", "developer")
    dev = browser_of(bed, "dev", TestClient(bed.client.app))
    page = browser.post("/settings/users/dev/password")
    assert page.status_code == 200
    password = SECRET.search(page.text)
    assert password and "New password of dev" in page.text
    assert dev.get("/").status_code == 303  # logged out
    assert log_in(dev.client, "dev", PASSWORD).status_code == 401
    assert log_in(dev.client, "dev", password.group(1)).status_code == 303


def test_tokens_are_created_with_their_secret_shown_once_and_revoked(browser: Browser, bed: Bed) -> None:
    bed.create_app("web")
    page = browser.post("/settings/tokens", {"name": "ci", "user": ADMIN, "role": "developer", "apps": "web"})
    assert page.status_code == 201
    secret = SECRET.search(page.text)
    assert secret
    token = {"Authorization": f"Bearer {secret.group(1)}"}
    assert bed.client.get("/api/v1/apps/web", headers=token).status_code == 200
    assert bed.client.get("/api/v1/users", headers=token).status_code == 403  # a developer's token
    listing = browser.get("/settings/tokens").text
    assert secret.group(1) not in listing
    assert 'data-token="ci"' in listing and 'data-token="bootstrap-admin"' in listing
    token_id = next(t.id for t in bed.services.accounts.tokens.all() if t.name == "ci")
    assert browser.post(f"/settings/tokens/{token_id}/revoke").status_code == 303
    assert bed.client.get("/api/v1/apps/web", headers=token).status_code == 401
    assert "revoked" in browser.get("/settings/tokens").text


def test_a_bad_token_shows_the_error_next_to_the_form(browser: Browser) -> None:
    page = browser.post("/settings/tokens", {"name": "ci", "expires": "soon", "role": "viewer"})
    assert page.status_code == 400
    assert 'id="create-error"' in page.text and "invalid duration" in page.text
    page = browser.post("/settings/tokens", {"name": "ci"})
    assert page.status_code == 400 and "needs a user" in page.text
    assert browser.post("/settings/tokens/nope/revoke").status_code == 404


def test_ssh_keys_are_added_with_an_owner_listed_and_removed(browser: Browser, bed: Bed) -> None:
    add_user(bed, "dev", "developer")
    key = _public_key("dev@laptop")
    authorized = bed.settings.git_authorized_keys
    assert authorized is not None
    assert (
        browser.post("/settings/keys", {"name": "laptop", "user": "dev", "public_key": key}).status_code
        == 303
    )
    assert browser.post("/settings/keys", {"name": "ci", "public_key": _public_key("ci")}).status_code == 303
    page = browser.get("/settings/keys").text
    row = re.search(r'<tr data-key="laptop">.*?</tr>', page, re.S)
    assert row and ">dev<" in row.group(0) and "SHA256:" in row.group(0)
    assert "(admin)" in re.search(r'<tr data-key="ci">.*?</tr>', page, re.S).group(0)  # type: ignore[union-attr]
    assert key.split()[1] in authorized.read_text()
    assert browser.post("/settings/keys/laptop/remove").status_code == 303
    assert [k.name for k in bed.services.git.keys.all()] == ["ci"]
    assert key.split()[1] not in authorized.read_text()


def test_a_bad_key_shows_the_error_next_to_the_form(browser: Browser, bed: Bed) -> None:
    page = browser.post("/settings/keys", {"name": "laptop", "public_key": "ssh-ed25519 AAAA!!!! x"})
    assert page.status_code == 400 and 'id="add-error"' in page.text
    page = browser.post("/settings/keys", {"name": "laptop", "user": "ghost", "public_key": _public_key("x")})
    assert page.status_code == 404 and 'id="add-error"' in page.text
    assert bed.services.git.keys.all() == []
    assert browser.post("/settings/keys/nope/remove").status_code == 404


def test_the_system_page_shows_disk_use_and_prunes(browser: Browser) -> None:
    page = browser.get("/settings/system")
    assert page.status_code == 200
    assert 'id="disk-used">10.0 %' in page.text
    pruned = browser.post("/settings/system/prune")
    assert pruned.status_code == 200
    assert 'id="prune-result"' in pruned.text


def test_hostile_names_are_escaped_on_the_settings_and_audit_pages(browser: Browser, bed: Bed) -> None:
    page = browser.post("/settings/users", {"name": HOSTILE, "role": "viewer", "apps": HOSTILE})
    assert HOSTILE not in page.text and "&lt;script&gt;" in page.text
    audit = browser.get("/audit", params={"app": HOSTILE, "user": HOSTILE})
    assert HOSTILE not in audit.text
    login = bed.client.post("/login", data={"user": HOSTILE, "password": "x"})  # no form token
    assert HOSTILE not in login.text


def test_the_audit_page_lists_changes_and_filters_by_app_and_user(browser: Browser, bed: Bed) -> None:
    bed.create_app("web")
    bed.create_app("shop")
    assert browser.post("/apps/web/domains", {"domain": "web.example.com"}).status_code == 303
    assert browser.post("/apps/shop/domains", {"domain": "shop.example.com"}).status_code == 303
    page = browser.get("/audit").text
    assert "add_domain" in page and ADMIN in page
    web_only = browser.get("/audit", params={"app": "web"}).text
    assert "/apps/web/domains" in web_only and "/apps/shop/domains" not in web_only
    by_token = browser.get("/audit", params={"user": "bootstrap-admin"}).text
    assert "/apps/web/domains" not in by_token and "create_app" in by_token


def test_a_scoped_developer_sees_only_its_apps_in_the_audit(bed: Bed) -> None:
    add_user(bed, ADMIN, "admin")
    bed.create_app("web")
    bed.create_app("shop")
    bed.post("/api/v1/apps/shop/domains", json={"domain": "shop.example.com"})
    bed.post("/api/v1/apps/web/domains", json={"domain": "web.example.com"})
    add_user(bed, "dora", "developer", ["web"])
    dora = browser_of(bed, "dora")
    page = dora.get("/audit").text
    assert "/apps/web/domains" in page and "/apps/shop" not in page
    assert dora.get("/audit", params={"app": "shop"}).status_code == 403
    add_user(bed, "vera", "viewer")
    assert browser_of(bed, "vera").get("/audit").status_code == 403


def test_a_removed_or_demoted_user_loses_its_rights_at_its_next_request(browser: Browser, bed: Bed) -> None:
    bed.create_app("web")
    add_user(bed, "dev", "developer")
    add_user(bed, "gone", "developer")
    dev = browser_of(bed, "dev", TestClient(bed.client.app))
    gone = browser_of(bed, "gone", TestClient(bed.client.app))
    assert ">Restart<" in dev.get("/apps/web").text
    assert browser.post("/settings/users/dev/role", {"role": "viewer"}).status_code == 303
    assert ">Restart<" not in dev.get("/apps/web").text
    assert dev.post("/apps/web/restart").status_code == 403
    assert browser.post("/settings/users/gone/remove").status_code == 303
    assert gone.get("/").status_code == 303  # its session went with it
