"""Settings in a real browser: an admin adds a user (its generated password shown once) who
then logs in and sees only its app; an admin creates an API token (its secret shown once)
that works against the API until it is revoked from the same page."""

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import add_user, log_in, watch_policy
from tests.e2e.conftest import Controller

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_an_admin_adds_a_user_who_logs_in_with_the_password_shown_once(
    controller: Controller, page: Page, tmp_path: Path
) -> None:
    violations = watch_policy(page)
    for app in ("blog", "shop"):
        assert controller.api("POST", "/apps", json={"name": app}).status_code == 201
    add_user(controller, "ada", "admin")
    log_in(page, controller, "ada")

    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    page.get_by_label("Name").fill("dev1")
    page.get_by_label("Role", exact=True).select_option("developer")
    page.get_by_label("Apps (space-separated; empty: all)").fill("blog")
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("heading", name="User dev1 created")).to_be_visible()
    password = page.locator("#new-password").inner_text()
    assert len(password) >= 8
    expect(page.locator('tr[data-user="dev1"]')).to_contain_text("developer")
    expect(page.locator('tr[data-user="dev1"]')).to_contain_text("blog")
    page.screenshot(path=tmp_path / "settings-user-created.png", full_page=True)
    page.goto(controller.url + "/settings/users")
    expect(page.locator("#new-password")).to_have_count(0)  # shown once
    page.set_viewport_size({"width": 375, "height": 800})  # a phone: nothing wider than it
    for tab in ("users", "tokens", "keys", "system"):
        page.goto(controller.url + f"/settings/{tab}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, tab
        page.screenshot(path=tmp_path / f"settings-{tab}-375px.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("button", name="Log out").click()
    log_in(page, controller, "dev1", password)
    expect(page.locator('tr[data-app="blog"]')).to_be_visible()
    expect(page.locator('tr[data-app="shop"]')).to_have_count(0)
    expect(page.get_by_role("link", name="Settings")).to_have_count(0)
    page.goto(controller.url + "/settings/users")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    assert violations == []


def test_an_admin_creates_a_token_shown_once_then_revokes_it(
    controller: Controller, page: Page, tmp_path: Path
) -> None:
    violations = watch_policy(page)
    assert controller.api("POST", "/apps", json={"name": "blog"}).status_code == 201
    add_user(controller, "ada", "admin")
    log_in(page, controller, "ada")

    page.goto(controller.url + "/settings/tokens")
    page.get_by_label("Name").fill("deploy-bot")
    page.get_by_label("Role").select_option("developer")
    page.get_by_label("Apps (space-separated; empty: all)").fill("blog")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("heading", name="Token deploy-bot created")).to_be_visible()
    secret = page.locator("#new-token").inner_text()
    page.screenshot(path=tmp_path / "settings-token-created.png", full_page=True)

    headers = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(controller.url + "/api/v1/apps/blog", headers=headers).status_code == 200
    assert httpx.get(controller.url + "/api/v1/users", headers=headers).status_code == 403

    page.goto(controller.url + "/settings/tokens")
    row = page.locator('tr[data-token="deploy-bot"]')
    expect(row).to_contain_text("developer")
    assert secret not in page.content()
    row.get_by_role("button", name="Revoke deploy-bot").click()  # the confirm dialog is accepted
    expect(row).to_contain_text("revoked")
    assert httpx.get(controller.url + "/api/v1/apps/blog", headers=headers).status_code == 401
    assert violations == []
