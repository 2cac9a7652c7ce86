"""The browser tier: Playwright (sync API) driving Debian's chromium against a real controller.

Run as its own pytest invocation (`scripts/test.sh --only browser-tier`, or
`pytest -m browser tests/browser`): Playwright's sync API leaves an event loop running that
breaks Textual's tests in the same process (TESTBED.md). `playwright install` cannot download
a browser here; scripts/setup-testbed.sh installs Debian's chromium instead.
"""

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tests.e2e.conftest import Controller, controller

__all__ = ["controller"]
PASSWORD = "browser tier password"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # runs as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    path = shutil.which("chromium") or CHROMIUM
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def add_user(controller: Controller, name: str, role: str, apps: list[str] | None = None) -> None:
    """A user made the way an admin makes one: POST /api/v1/users with the bootstrap token."""
    body = {"name": name, "role": role, "apps": apps or [], "password": PASSWORD}
    response = controller.api("POST", "/users", json=body)
    assert response.status_code == 201, response.text


def log_in(page: Page, controller: Controller, user: str = "ada", password: str = PASSWORD) -> None:
    page.goto(controller.url + "/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Apps")).to_be_visible()


def watch_policy(page: Page, accept_dialogs: bool = True) -> list[str]:
    """The Content-Security-Policy violations the page reports on its console, as they come
    (the tests keep the GUI's CSP and end with this list empty); confirm() dialogs accepted."""
    violations: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            violations.append(message.text)

    page.on("console", on_console)
    if accept_dialogs:
        page.on("dialog", lambda dialog: dialog.accept())
    return violations
