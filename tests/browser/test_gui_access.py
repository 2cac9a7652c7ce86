"""Roles in a real browser: a viewer logs in, reads, finds no control that changes anything,
and a form it posts anyway (with its own valid CSRF token) is refused with a 403 page."""

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import add_user, log_in
from tests.e2e.conftest import Controller

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_a_viewer_reads_but_has_no_controls_and_is_refused_if_it_posts_anyway(
    controller: Controller, page: Page, tmp_path: Path
) -> None:
    assert controller.api("POST", "/apps", json={"name": "shared"}).status_code == 201
    assert controller.api("POST", "/apps", json={"name": "hidden"}).status_code == 201
    add_user(controller, "vic", "viewer", ["shared"])
    log_in(page, controller, "vic")

    row = page.locator('tr[data-app="shared"]')
    expect(row).to_be_visible()
    expect(page.locator('tr[data-app="hidden"]')).to_have_count(0)  # not in its scope
    expect(page.get_by_label("New app")).to_have_count(0)
    page.screenshot(path=tmp_path / "viewer-dashboard.png", full_page=True)

    page.get_by_role("link", name="shared").first.click()
    expect(page.get_by_role("heading", name="shared")).to_be_visible()
    buttons = page.get_by_role("button").all_inner_texts()
    # Copy buttons (the git remote lines, webhook URLs) change nothing.
    assert [b for b in buttons if b != "Copy"] == ["Log out (vic)"], buttons
    page.screenshot(path=tmp_path / "viewer-app.png", full_page=True)

    # A form posted anyway, with the session's valid CSRF token: a 403 page, nothing changed.
    status = page.evaluate(
        """async () => {
            const csrf = document.querySelector('input[name="csrf"]').value;
            const body = new URLSearchParams({csrf, key: "EVIL", value: "1"});
            const response = await fetch("/apps/shared/config", {method: "POST", body});
            return [response.status, await response.text()];
        }"""
    )
    assert status[0] == 403 and "Not allowed" in status[1], status
    assert controller.api("GET", "/apps/shared/config").json() == {}

    page.goto(controller.url + "/apps/hidden")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
