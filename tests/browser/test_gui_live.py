"""The dashboard kept current by the controller's events, in a real browser: a burst of changes
to many apps ends with every row showing its own newest deploy, and an answer that comes back
late never brings an older state back over a newer one."""

from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import add_user, log_in, watch_policy
from tests.e2e.conftest import Controller

pytestmark = [pytest.mark.browser, pytest.mark.integration]

APPS = [f"burst-{index}" for index in range(8)]


def change_config(controller: Controller, app: str, value: str) -> str:
    """A config change of an app (a job, so a new last deploy); the job's id."""
    response = controller.api("PATCH", f"/apps/{app}/config", json={"set": {"ROUND": value}})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def test_a_burst_of_changes_to_many_apps_updates_every_row(
    controller: Controller, page: Page, tmp_path: Path
) -> None:
    for app in APPS:
        assert controller.api("POST", "/apps", json={"name": app}).status_code == 201
    add_user(controller, "ada", "admin")
    violations = watch_policy(page)
    log_in(page, controller)
    expect(page.locator(f'tr[data-app="{APPS[-1]}"]')).to_be_visible()
    page.wait_for_timeout(500)  # the event stream is open

    newest = {}
    for round_ in range(2):
        for app in APPS:
            newest[app] = change_config(controller, app, str(round_))
    for app, job in newest.items():
        row = page.locator(f'tr[data-app="{app}"]')
        expect(row.locator(f'a[href="/deploys/{job}"]')).to_be_visible(timeout=15_000)
    page.screenshot(path=tmp_path / "dashboard-after-burst.png", full_page=True)
    assert violations == []


def test_a_late_answer_does_not_overwrite_a_newer_row(controller: Controller, page: Page) -> None:
    assert controller.api("POST", "/apps", json={"name": "late"}).status_code == 201
    add_user(controller, "ada", "admin")
    log_in(page, controller)
    expect(page.locator('tr[data-app="late"]')).to_be_visible()
    page.wait_for_timeout(500)  # the event stream is open

    held: list[tuple[Route, bytes]] = []

    def hold_the_first(route: Route) -> None:
        if held:
            route.continue_()
            return
        answer = route.fetch()  # the row as it is now, sent back only later
        held.append((route, answer.body()))

    page.route("**/partials/apps/late/row", hold_the_first)
    first = change_config(controller, "late", "1")
    page.wait_for_function("() => true")  # let the page's fetch reach the route
    page.wait_for_timeout(300)
    assert held, "the event of the first change fetched no row"
    second = change_config(controller, "late", "2")
    row = page.locator('tr[data-app="late"]')
    expect(row.locator(f'a[href="/deploys/{second}"]')).to_be_visible(timeout=15_000)

    route, body = held[0]
    assert f"/deploys/{second}".encode() not in body  # it is older than what the page shows
    route.fulfill(status=200, body=body, headers={"Content-Type": "text/html; charset=utf-8"})
    page.wait_for_timeout(500)
    expect(row.locator(f'a[href="/deploys/{second}"]')).to_be_visible()
    expect(row.locator(f'a[href="/deploys/{first}"]')).to_have_count(0)
