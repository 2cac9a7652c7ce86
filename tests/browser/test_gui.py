"""The GUI in a real browser against a real controller (Docker, nginx): log in with the keyboard,
create an app, deploy it, watch the dashboard show it running without a reload, change a config
var, roll back, read a deploy log, log out. Screenshots of each page go to the test's tmp dir."""

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PASSWORD, add_user, log_in, watch_policy
from tests.conftest import BUSYBOX_IMAGE, write_static_app
from tests.e2e.conftest import Controller

# Also `integration` (real Docker and nginx): the usual `-m "not integration"` run leaves it out.
pytestmark = [pytest.mark.browser, pytest.mark.integration]
WAIT_MS = 90_000  # a deploy on 2 shared cores; expect() returns as soon as the text is there


def app_text(ctl: Controller, app: str, path: str) -> str:
    try:
        response = ctl.get_app(app, path)
    except httpx.TransportError:
        return ""
    return response.text if response.status_code == 200 else ""


def test_log_in_create_deploy_configure_roll_back_and_log_out(
    controller: Controller, chromium: Browser, page: Page, tmp_path: Path
) -> None:
    screens = tmp_path / "screenshots"
    screens.mkdir()
    policy_violations = watch_policy(page)

    # A page without a session goes to /login; log in with the keyboard only.
    page.goto(controller.url + "/apps/webgui")
    expect(page).to_have_url(controller.url + "/login?next=/apps/webgui")
    page.screenshot(path=screens / "01-login.png", full_page=True)
    add_user(controller, "ada", "admin")
    page.keyboard.type("ada")  # the user name field has the focus
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()  # no such app yet

    # Create the app from the dashboard.
    page.goto(controller.url + "/")
    page.get_by_label("New app").fill("webgui")
    page.get_by_role("button", name="Create").click()
    expect(page).to_have_url(controller.url + "/apps/webgui")
    expect(page.get_by_text("No release yet", exact=False).first).to_be_visible()
    page.screenshot(path=screens / "02-new-app.png", full_page=True)

    # Deploy while the dashboard is open: it turns to running by itself (live events).
    page.goto(controller.url + "/")
    row = page.locator('tr[data-app="webgui"]')
    expect(row).to_contain_text("no release")
    source = write_static_app(tmp_path / "app", body="hello from gui")
    controller.cli("deploy", "webgui", "--path", str(source))
    expect(row.locator(".state")).to_have_text("running", timeout=WAIT_MS)
    expect(row).to_contain_text("v1")
    expect(row).to_contain_text("build succeeded")
    assert app_text(controller, "webgui", "/") == "hello from gui"
    page.screenshot(path=screens / "03-dashboard.png", full_page=True)

    # The filter box narrows the table as one types (htmx), and widens it again.
    page.get_by_label("Filter apps").fill("nomatch")
    expect(page.get_by_text("No app matches")).to_be_visible()
    page.get_by_label("Filter apps").fill("webg")
    expect(row.locator(".state")).to_have_text("running")

    # Phone width: nothing wider than the screen.
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=screens / "04-dashboard-375px.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # A config change makes release v2, which the app runs.
    page.get_by_role("link", name="webgui").first.click()
    page.get_by_label("Name").fill("GREETING")
    page.get_by_label("Value").fill("bonjour")
    page.get_by_role("button", name="Set").click()
    expect(page.get_by_text("v2 (current)")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("li", has_text="GREETING")).to_contain_text("********")
    assert "bonjour" not in page.content()  # masked
    assert "bonjour" in app_text(controller, "webgui", "/env.txt")
    page.screenshot(path=screens / "05-app-v2.png", full_page=True)

    # Roll back to v1 (the confirm dialog is accepted): v1 is current and served again.
    page.get_by_role("button", name="Roll back to v1").click()
    expect(page.get_by_text("v1 (current)")).to_be_visible(timeout=WAIT_MS)
    assert "bonjour" not in app_text(controller, "webgui", "/env.txt")
    page.screenshot(path=screens / "06-rolled-back.png", full_page=True)

    # The stored log of the first deploy (the build).
    page.locator("tr", has_text="build").get_by_role("link", name="log").click()
    expect(page.locator("#deploy-log")).to_contain_text("Step", timeout=WAIT_MS)
    expect(page.locator("#deploy-status")).to_have_text("succeeded")
    page.screenshot(path=screens / "07-deploy-log.png", full_page=True)

    # With JavaScript off, the pages that only show things are complete.
    still_logged_in = chromium.new_context(
        java_script_enabled=False, storage_state=page.context.storage_state()
    )
    try:
        plain = still_logged_in.new_page()
        plain.goto(page.url)
        expect(plain.locator("#deploy-log")).to_contain_text("Step")
        plain.goto(controller.url + "/")
        expect(plain.locator('tr[data-app="webgui"] .state')).to_have_text("running")
        plain.goto(controller.url + "/apps/webgui")
        expect(plain.get_by_text("v1 (current)")).to_be_visible()
    finally:
        still_logged_in.close()

    # Log out: the session is over.
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(controller.url + "/login")
    page.goto(controller.url + "/")
    expect(page).to_have_url(controller.url + "/login?next=/")
    page.screenshot(path=screens / "08-logged-out.png", full_page=True)

    assert policy_violations == []
    assert len(list(screens.glob("*.png"))) == 8


def test_the_app_page_streams_the_build_log_while_the_deploy_runs(
    controller: Controller, page: Page, tmp_path: Path
) -> None:
    source = write_static_app(tmp_path / "app", body="slow build")
    dockerfile = (source / "Dockerfile").read_text()
    slow_step = "RUN for i in 1 2 3 4 5 6; do echo gui-line-$i; sleep 1; done\n"
    (source / "Dockerfile").write_text(
        dockerfile.replace(f"FROM {BUSYBOX_IMAGE}\n", f"FROM {BUSYBOX_IMAGE}\n{slow_step}")
    )
    assert controller.api("POST", "/apps", json={"name": "slowlog"}).status_code == 201
    add_user(controller, "ada", "admin")
    log_in(page, controller)

    controller.cli("deploy", "slowlog", "--path", str(source), "--no-follow")
    page.goto(controller.url + "/apps/slowlog")
    live = page.locator("#live-log")
    expect(live).to_contain_text("gui-line-2", timeout=WAIT_MS)
    # Seen in the page while the build still runs: streamed, not loaded at the end.
    deploy = controller.api("GET", "/apps/slowlog/deploys").json()[0]
    assert deploy["status"] == "running", deploy
    page.screenshot(path=tmp_path / "live-build-log.png", full_page=True)
    # When the deploy ends the page reloads by itself and shows the new release.
    expect(page.get_by_text("v1 (current)")).to_be_visible(timeout=WAIT_MS)
