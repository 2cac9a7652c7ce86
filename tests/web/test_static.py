"""The vendored htmx is the pinned release, with its licence; no page needs a CDN."""

import hashlib

from controller.web.render import STATIC_DIR
from tests.api.conftest import AUTH
from tests.web.conftest import Browser

HTMX_VERSION = "2.0.11"
HTMX_SHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"


def test_the_vendored_htmx_is_the_pinned_release_with_its_licence() -> None:
    assert hashlib.sha256((STATIC_DIR / "htmx.min.js").read_bytes()).hexdigest() == HTMX_SHA256
    assert "Zero-Clause BSD" in (STATIC_DIR / "LICENSE-htmx.txt").read_text()
    notes = (STATIC_DIR / "VENDORED.md").read_text()
    assert HTMX_VERSION in notes and HTMX_SHA256 in notes


def test_no_template_loads_anything_from_another_site() -> None:
    templates = STATIC_DIR.parent / "templates"
    for template in templates.rglob("*.html"):
        text = template.read_text()
        assert "http://" not in text and "https://" not in text, template
        assert "<script>" not in text and "style=" not in text, template  # CSP: no inline code


def test_pages_and_static_files_are_compressed_and_the_machine_side_is_not(browser: Browser) -> None:
    gzip = {"Accept-Encoding": "gzip"}
    script = browser.client.get("/static/htmx.min.js", headers=gzip)
    assert script.headers.get("content-encoding") == "gzip"
    assert hashlib.sha256(script.content).hexdigest() == HTMX_SHA256  # decoded by the client
    assert int(script.headers["content-length"]) < len(script.content) // 2
    assert browser.client.get("/", headers=gzip).headers.get("content-encoding") == "gzip"
    api = browser.client.get("/api/v1/apps", headers={**gzip, **AUTH})
    assert api.status_code == 200 and "content-encoding" not in api.headers
