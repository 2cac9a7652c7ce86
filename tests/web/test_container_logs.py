"""Container logs past what the page keeps: a download of the last N lines (streamed, a text
file) and a search that works with JavaScript off (the newest 1,000 matches, the rest counted).
Both only read: a viewer may, a developer scoped to another app may not."""

import re
from collections.abc import Sequence
from typing import Any

import pytest

from controller.domain.models import HEALTH_CHECK_USER_AGENT
from tests.api.conftest import Bed
from tests.api.fakes import FakeLogLines
from tests.web.conftest import Browser, add_user, browser_of

HOSTILE = "<script>alert(1)</script>"


class Written:
    """What the fake runtime's containers wrote: `line-1` .. `line-N`, and what was asked of it."""

    def __init__(self, count: int) -> None:
        self.lines = [f"web.1 | line-{i}" for i in range(1, count + 1)]
        self.asked: list[dict[str, Any]] = []

    def follow_logs(self, container_ids: Sequence[str], **kwargs: Any) -> FakeLogLines:
        self.asked.append(kwargs)
        tail = kwargs["tail"]
        return FakeLogLines(self.lines[-tail:] if tail else [])


@pytest.fixture
def written(browser: Browser, monkeypatch: pytest.MonkeyPatch) -> Written:
    browser.bed.create_app("web")
    assert browser.bed.deploy("web")["status"] == "succeeded"
    logs = Written(12_000)
    monkeypatch.setattr(browser.bed.runtime, "follow_logs", logs.follow_logs)
    return logs


def shown(html: str) -> list[str]:
    pre = re.search(r'<pre class="log" id="container-log"[^>]*>(.*?)</pre>', html, re.S)
    assert pre, html
    return pre.group(1).splitlines()


# -- download ---------------------------------------------------------------------------------


def test_the_download_is_the_last_lines_as_a_text_file(browser: Browser, written: Written) -> None:
    before = browser.bed.services.apps.get("web")
    response = browser.get("/apps/web/logs.txt?tail=50")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="web-logs.txt"'
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.text.splitlines() == [f"web.1 | line-{i}" for i in range(11_951, 12_001)]
    assert written.asked[-1] == {"tail": 50, "follow": False, "timestamps": False}
    assert browser.bed.services.apps.get("web") == before  # reading changed nothing


def test_the_download_is_clamped_to_1_to_100000_lines(browser: Browser, written: Written) -> None:
    for asked, read in [(None, 10_000), ("0", 1), ("-3", 10_000), ("abc", 10_000), ("999999", 100_000)]:
        url = "/apps/web/logs.txt" + (f"?tail={asked}" if asked is not None else "")
        response = browser.get(url)
        assert response.status_code == 200, asked
        assert written.asked[-1]["tail"] == read, asked
    assert len(browser.get("/apps/web/logs.txt").text.splitlines()) == 10_000
    assert browser.get("/apps/web/logs.txt?tail=100000").text.splitlines() == written.lines
    followers = browser.client.app.state.followers  # type: ignore[attr-defined]
    assert followers.open == 0  # each download gave its stream slot back


def test_the_download_leaves_out_health_checks_and_is_not_html(browser: Browser, written: Written) -> None:
    written.lines += [HOSTILE, f'10.0.0.1 "GET /health" 200 "{HEALTH_CHECK_USER_AGENT}"']
    text = browser.get("/apps/web/logs.txt?tail=5").text
    assert text.endswith(HOSTILE + "\n")  # a text file: the line as written, shown as text
    assert "GET /health" not in text


def test_the_logs_page_links_the_download(browser: Browser, written: Written) -> None:
    page = browser.get("/apps/web/logs")
    assert 'href="/apps/web/logs.txt"' in page.text
    assert 'href="/apps/web/logs.txt?tail=100000"' in page.text
    assert 'action="/apps/web/logs"' in page.text and 'name="q"' in page.text


# -- search -----------------------------------------------------------------------------------


def test_a_search_shows_the_matching_lines_not_followed(browser: Browser, written: Written) -> None:
    page = browser.get("/apps/web/logs?q=LINE-111&lines=12000")
    assert page.status_code == 200
    assert shown(page.text) == [f"web.1 | line-{n}" for n in [111, *range(1110, 1120), *range(11100, 11200)]]
    assert "111 lines containing" in page.text  # case ignored
    assert "data-follow-container" not in page.text  # a search result is not followed
    assert 'value="LINE-111"' in page.text  # the form keeps what was searched
    assert written.asked[-1] == {"tail": 12_000, "follow": False, "timestamps": False}


def test_a_search_reads_the_last_lines_asked_for_clamped(browser: Browser, written: Written) -> None:
    assert shown(browser.get("/apps/web/logs?q=line-50&lines=100").text) == []
    assert written.asked[-1]["tail"] == 100
    for asked, read in [("0", 1), ("x", 10_000), ("1000000", 100_000)]:
        assert browser.get(f"/apps/web/logs?q=line&lines={asked}").status_code == 200
        assert written.asked[-1]["tail"] == read, asked
    nothing = browser.get("/apps/web/logs?q=nothing-like-this").text
    assert shown(nothing) == [] and "0 lines containing" in nothing


def test_a_search_shows_the_newest_1000_matches_and_counts_the_rest(
    browser: Browser, written: Written
) -> None:
    page = browser.get("/apps/web/logs?q=line-&lines=12000")
    lines = shown(page.text)
    assert len(lines) == 1000
    assert lines[0] == "web.1 | line-11001" and lines[-1] == "web.1 | line-12000"  # newest last
    assert "12000 lines containing" in page.text
    assert "11000 more matches" in page.text
    assert 'href="/apps/web/logs.txt?tail=12000"' in page.text


def test_search_results_are_escaped(browser: Browser, written: Written) -> None:
    written.lines.append(f"web.1 | {HOSTILE}")
    page = browser.get("/apps/web/logs", params={"q": "<script>"})
    assert page.status_code == 200
    assert HOSTILE not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>" not in page.text.replace('<script src="/static/app.js" defer></script>', "")


REFUSED = ["x" * 201, "a\nb", "tab\there", "nul\x00", '"><script>alert(1)</script>' * 8]


@pytest.mark.parametrize("query", REFUSED)
def test_an_oversized_or_hostile_search_is_refused_next_to_the_field(
    browser: Browser, written: Written, query: str
) -> None:
    page = browser.get("/apps/web/logs", params={"q": query})
    assert page.status_code == 400
    error = re.search(r'<p class="error" id="log-q-error" role="alert">(.*?)</p>', page.text)
    assert error, page.text
    assert "200 characters" in error.group(1) or "control characters" in error.group(1)
    assert 'aria-invalid="true"' in page.text
    assert "<script>alert" not in page.text
    assert written.asked == []  # nothing was read


def test_a_search_of_200_characters_is_fine(browser: Browser, written: Written) -> None:
    assert browser.get("/apps/web/logs", params={"q": "y" * 200}).status_code == 200


# -- who may read -----------------------------------------------------------------------------


def test_a_viewer_downloads_and_searches(bed: Bed) -> None:
    bed.create_app("web")
    assert bed.deploy("web")["status"] == "succeeded"
    add_user(bed, "vera", "viewer")
    viewer = browser_of(bed, "vera")
    assert viewer.get("/apps/web/logs.txt").status_code == 200
    assert "hello from" in viewer.get("/apps/web/logs.txt").text
    page = viewer.get("/apps/web/logs?q=hello")
    assert page.status_code == 200
    assert any("hello from" in line for line in shown(page.text))


def test_a_developer_of_another_app_may_not_download_nor_search(bed: Bed) -> None:
    bed.create_app("web")
    bed.create_app("shop")
    add_user(bed, "dora", "developer", ["web"])
    dev = browser_of(bed, "dora")
    for url in ("/apps/shop/logs.txt", "/apps/shop/logs.txt?tail=5", "/apps/shop/logs?q=hello"):
        refused = dev.get(url)
        assert refused.status_code == 403, url
        assert "hello from" not in refused.text
    assert dev.get("/apps/web/logs.txt").status_code == 200
    assert dev.get("/apps/web/logs?q=hello").status_code == 200


def test_downloads_and_searches_need_a_session(browser: Browser, written: Written) -> None:
    browser.client.cookies.clear()
    assert browser.get("/apps/web/logs.txt").status_code == 303
    assert browser.get("/apps/web/logs?q=line").status_code == 303


def test_a_download_of_a_hostile_or_missing_app_is_refused(browser: Browser) -> None:
    for name in ["%3Cscript%3E", "UPPER", "a..b", "app;rm"]:
        response = browser.get(f"/apps/{name}/logs.txt")
        assert response.status_code in (400, 404), name
        assert "<script>" not in response.text
    assert browser.get("/apps/nosuchapp/logs.txt").status_code == 404
