"""axe-core, from the npm registry, run in the GUI's pages in a real browser against a real
controller: no `serious` or `critical` accessibility violation on the login, dashboard, app
and deploy pages.

axe-core is fetched at test time with `npm pack` at a pinned version, checked against the
registry's sha512 integrity, and kept in /tmp for the next run. It is injected as a script
tag, which the pages' Content-Security-Policy would refuse: this test's browser context
bypasses CSP (the other browser tests keep it and fail on any CSP violation).
"""

import base64
import hashlib
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import add_user, log_in
from tests.conftest import write_static_app
from tests.e2e.conftest import Controller

pytestmark = [pytest.mark.browser, pytest.mark.integration]
AXE_VERSION = "4.14.1"
AXE_INTEGRITY = (  # the registry's dist.integrity of that version
    "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
)
AXE_CACHE = Path(tempfile.gettempdir()) / "dockyard-test-axe"
BLOCKING = ("serious", "critical")
SETTINGS_PAGES = [f"/settings/{name}" for name in ("users", "tokens", "keys", "system")]
WAIT_MS = 90_000


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def axe_tarball() -> bytes:
    """The pinned axe-core package (from the cache, else `npm pack`), its integrity checked."""
    cached = AXE_CACHE / f"axe-core-{AXE_VERSION}.tgz"
    if cached.exists() and integrity_of(cached.read_bytes()) == AXE_INTEGRITY:
        return cached.read_bytes()
    AXE_CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=AXE_CACHE) as work:
        subprocess.run(
            ["npm", "pack", f"axe-core@{AXE_VERSION}", "--pack-destination", work, "--silent"],
            cwd=work,
            check=True,
            capture_output=True,
            timeout=300,
        )
        packed = Path(work) / f"axe-core-{AXE_VERSION}.tgz"
        data = packed.read_bytes()
        assert integrity_of(data) == AXE_INTEGRITY, "axe-core from the registry is not the pinned one"
        os.replace(packed, cached)
    return data


@pytest.fixture(scope="session")
def axe_source() -> str:
    with tempfile.TemporaryDirectory() as work:
        tarball = Path(work) / "axe.tgz"
        tarball.write_bytes(axe_tarball())
        with tarfile.open(tarball) as tar:
            member = tar.extractfile("package/axe.min.js")
            assert member is not None
            return member.read().decode()


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    try:
        yield context
    finally:
        context.close()


def violations(page: Page, axe_source: str) -> list[str]:
    """The page's serious and critical violations, one readable line per rule and element."""
    page.add_script_tag(content=axe_source)
    result: dict[str, Any] = page.evaluate("() => axe.run(document)")
    assert result["passes"], "axe checked nothing"
    found = []
    for violation in result["violations"]:
        if violation["impact"] in BLOCKING:
            for node in violation["nodes"]:
                where = f"{node['target']} {node['failureSummary']}"
                found.append(f"{violation['id']} ({violation['impact']}): {where}")
    return found


def test_login_dashboard_app_and_deploy_pages_have_no_serious_accessibility_violations(
    controller: Controller, context: BrowserContext, axe_source: str, tmp_path: Path
) -> None:
    controller.cli("apps", "create", "axe")
    source = write_static_app(tmp_path / "app", body="accessible")
    controller.cli("deploy", "axe", "--path", str(source))
    deploy_id = controller.api("GET", "/apps/axe/deploys?limit=1").json()[0]["id"]
    page = context.new_page()
    found: dict[str, list[str]] = {}

    page.goto(controller.url + "/login")
    found["login"] = violations(page, axe_source)
    add_user(controller, "ada", "admin")
    log_in(page, controller)
    expect(page.locator('tr[data-app="axe"] .state')).to_have_text("running", timeout=WAIT_MS)
    found["dashboard"] = violations(page, axe_source)
    page.goto(controller.url + "/apps/axe")
    found["app"] = violations(page, axe_source)
    page.goto(f"{controller.url}/deploys/{deploy_id}")
    expect(page.locator("#deploy-log")).to_contain_text("Step")
    found["deploy"] = violations(page, axe_source)
    page.get_by_label("Search the whole log").fill("step")
    page.keyboard.press("Enter")
    expect(page.locator("#deploy-log .ln.hit")).to_have_count(1)
    found["deploy, searched"] = violations(page, axe_source)

    # Beyond the four the issue names: the 404 page, the admin's settings and the audit page.
    for path in ["/no/such/page", *SETTINGS_PAGES, "/audit"]:
        page.goto(controller.url + path)
        found[path] = violations(page, axe_source)

    assert {name: lines for name, lines in found.items() if lines} == {}
    # The check can fail: an image without a text alternative is a critical violation.
    page.evaluate("document.querySelector('main').appendChild(document.createElement('img'))")
    assert any(line.startswith("image-alt (critical)") for line in violations(page, axe_source))
