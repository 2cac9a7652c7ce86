"""The browser tier: Playwright (sync API) driving Debian's chromium against a real controller.

Run as its own pytest invocation (`scripts/test.sh --only browser-tier`, or
`pytest -m browser tests/browser`): Playwright's sync API leaves an event loop running that
breaks Textual's tests in the same process (TESTBED.md). `playwright install` cannot download
a browser here; scripts/setup-testbed.sh installs Debian's chromium instead.
"""

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.conftest import controller

__all__ = ["controller"]
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
