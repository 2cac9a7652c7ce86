"""The app page's additions in a real browser against a real controller (Docker, nginx): config
values and the webhook secret revealed on request, live figures drawn as inline SVG, container
logs that keep following, and destroy with the app's name typed. No Content-Security-Policy
violation on the way. Screenshots go to the test's tmp dir."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import add_user, log_in, watch_policy
from tests.conftest import BUSYBOX_IMAGE
from tests.e2e.conftest import Controller

pytestmark = [pytest.mark.browser, pytest.mark.integration]
WAIT_MS = 90_000
SECRET = "hunter2-<b>not bold</b>"


def write_ticking_app(directory: Path) -> Path:
    """An app that answers HTTP (so it passes its health check) and prints a line every 0.3 s."""
    (directory / "www").mkdir(parents=True, exist_ok=True)
    (directory / "www" / "index.html").write_text("ticking")
    (directory / "Dockerfile").write_text(
        f"FROM {BUSYBOX_IMAGE}\n"
        "COPY www /www\n"
        "EXPOSE 8080\n"
        'CMD ["sh", "-c", "httpd -p $PORT -h /www; i=0; '
        'while true; do i=$((i+1)); echo tick-$i; sleep 0.3; done"]\n'
    )
    return directory


def highest_tick(text: str) -> int:
    return max((int(n) for n in re.findall(r"tick-(\d+)", text)), default=0)


def test_reveal_figures_container_logs_and_destroy(
    controller: Controller, chromium: Browser, page: Page, tmp_path: Path
) -> None:
    screens = tmp_path / "screenshots"
    screens.mkdir()
    violations = watch_policy(page)

    add_user(controller, "ada", "admin")
    assert controller.api("POST", "/apps", json={"name": "ticker"}).status_code == 201
    config = controller.api("PATCH", "/apps/ticker/config", json={"set": {"SECRET_TOKEN": SECRET}})
    assert config.status_code == 202, config.text
    controller.cli("deploy", "ticker", "--path", str(write_ticking_app(tmp_path / "app")))
    log_in(page, controller)

    # Config values are masked until one is revealed, in place (htmx), escaped.
    page.goto(controller.url + "/apps/ticker")
    expect(page.get_by_text("v1 (current)")).to_be_visible(timeout=WAIT_MS)
    assert SECRET not in page.content()
    page.get_by_role("button", name="Reveal the value of SECRET_TOKEN").click()
    expect(page.locator("#config-SECRET_TOKEN-value")).to_have_text(SECRET)
    expect(page.locator("#config-SECRET_TOKEN").get_by_role("button", name="Copy")).to_be_visible()

    # The webhook secret likewise; the remotes and webhook URLs have copy buttons.
    secret = controller.api("GET", "/apps/ticker/source").json()["webhook_secret"]
    assert secret not in page.content()
    page.get_by_role("button", name="Reveal secret").click()
    expect(page.locator("#webhook-secret-value")).to_have_text(secret)
    expect(page.get_by_role("button", name="Copy the SSH git remote line")).to_be_visible()
    expect(page.locator("#git-ssh")).to_contain_text("git remote add dockyard ssh://")

    # Live figures: the numbers are on the page; the script draws a chart per series as the
    # next samples arrive (one every 5 s).
    expect(page.locator("#app-stats-figures")).to_contain_text("Requests")
    expect(page.locator("#stats-charts figure").first).to_be_visible(timeout=30_000)
    expect(page.locator("#stats-charts figure svg polyline").first).to_have_attribute(
        "points", re.compile(r"\d"), timeout=30_000
    )
    page.screenshot(path=screens / "01-app-page.png", full_page=True)
    page.locator("#stats-charts").screenshot(path=screens / "01-charts.png")
    # On a phone (375 px) nothing is wider than the screen: remotes, URLs and secrets wrap.
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=screens / "01-app-page-375.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # Container logs: the tail, then new lines arrive without a reload.
    page.get_by_role("link", name="Container logs").click()
    expect(page).to_have_url(controller.url + "/apps/ticker/logs")
    log = page.locator("#container-log")
    expect(log).to_contain_text("tick-", timeout=30_000)
    seen = highest_tick(log.text_content() or "")
    expect(log).to_contain_text(f"tick-{seen + 5}", timeout=30_000)
    expect(page.locator("#log-status")).to_have_text("Following new lines.")
    page.screenshot(path=screens / "02-container-logs.png", full_page=True)
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.set_viewport_size({"width": 1280, "height": 900})
    toggle = page.get_by_role("button", name="Following: on")
    toggle.click()
    expect(page.locator("#follow-toggle")).to_have_attribute("aria-pressed", "false")
    paused_at = highest_tick(log.text_content() or "")
    page.wait_for_timeout(1500)  # lines keep coming in the container, not into a paused page
    assert highest_tick(log.text_content() or "") == paused_at
    page.locator("#follow-toggle").click()
    expect(log).to_contain_text(f"tick-{paused_at + 5}", timeout=30_000)

    # A restart replaces the container: the page follows the new one by itself.
    old_container = (log.text_content() or "").split(" | ", 1)[0].strip()
    assert controller.api("POST", "/apps/ticker/restart").status_code == 202
    expect(page.locator("#log-status")).to_contain_text("output ended", timeout=WAIT_MS)
    expect(log).not_to_contain_text(old_container, timeout=WAIT_MS)
    expect(log).to_contain_text("tick-3", timeout=WAIT_MS)
    expect(page.locator("#log-status")).to_have_text("Following new lines.")

    # With JavaScript off the logs, figures and a revealed value are still there to read.
    plain_context = chromium.new_context(java_script_enabled=False)
    try:
        plain = plain_context.new_page()
        log_in(plain, controller)
        plain.goto(controller.url + "/apps/ticker/logs")
        expect(plain.locator("#container-log")).to_contain_text("tick-")
        plain.goto(controller.url + "/apps/ticker/stats")
        expect(plain.locator("#app-stats-figures table")).to_contain_text("running")
        plain.goto(controller.url + "/apps/ticker")
        plain.get_by_role("button", name="Reveal the value of SECRET_TOKEN").click()
        expect(plain.locator("#config-SECRET_TOKEN-value")).to_have_text(SECRET)
        plain.screenshot(path=screens / "02-no-javascript-revealed.png", full_page=True)
    finally:
        plain_context.close()

    # Destroy: the button stays disabled until the name is typed exactly.
    page.goto(controller.url + "/apps/ticker")
    confirm = page.get_by_label("Type ticker to confirm")
    button = page.get_by_role("button", name="Destroy", exact=True)
    confirm.fill("tick")
    expect(button).to_be_disabled()
    page.screenshot(path=screens / "03-destroy.png", full_page=True)
    confirm.fill("ticker")
    expect(button).to_be_enabled()
    button.click()
    expect(page).to_have_url(controller.url + "/", timeout=WAIT_MS)
    expect(page.locator('tr[data-app="ticker"]')).to_have_count(0)
    assert controller.api("GET", "/apps/ticker").status_code == 404
    page.screenshot(path=screens / "04-after-destroy.png", full_page=True)

    assert violations == []
