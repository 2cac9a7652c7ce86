"""Long deploy logs in the GUI: a bounded window in the page, ranges, search, download and a
live stream that resumes from a line number."""

import re

from tests.api.conftest import Bed
from tests.web.conftest import Browser, add_user, browser_of
from tests.web.test_live import sse_blocks
from tests.web.test_pages import HOSTILE, deployed

EXTRA = 5_000
WINDOW = 2_000


def long_log(browser: Browser) -> tuple[str, int]:
    """A finished deploy whose log has EXTRA more lines; its id and line count."""
    deployed(browser, "web")
    deploy = browser.bed.services.history.of_app("web", limit=1)[0]
    before = len(browser.bed.services.logs._store.read(deploy.id))
    for number in range(EXTRA):
        browser.bed.services.logs.append(deploy.id, f"extra {number}")
    return deploy.id, before + EXTRA


def numbered_lines(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'class="ln" id="L\d+" data-n="(\d+)"', html)]


def test_the_page_holds_the_last_lines_and_links_to_the_earlier_ones(browser: Browser) -> None:
    deploy_id, total = long_log(browser)
    page = browser.get(f"/deploys/{deploy_id}")
    assert page.status_code == 200
    assert numbered_lines(page.text) == list(range(total - WINDOW + 1, total + 1))
    assert f"extra {EXTRA - 1}\n" in page.text and "extra 0\n" not in page.text
    assert f'href="/deploys/{deploy_id}?from={total - 2 * WINDOW}" data-load="before"' in page.text
    assert f"Lines {total - WINDOW + 1}\N{EN DASH}{total} of {total}" in page.text
    assert "data-live-url" not in page.text  # finished: nothing to follow
    first = browser.get(f"/deploys/{deploy_id}?from=0")
    assert numbered_lines(first.text) == list(range(1, WINDOW + 1))
    assert f'href="/deploys/{deploy_id}?from={WINDOW}" data-load="after"' in first.text
    assert browser.get(f"/deploys/{deploy_id}?from=-1").status_code == 422


def test_ranges_come_as_json_with_the_logs_length(browser: Browser) -> None:
    deploy_id, total = long_log(browser)
    got = browser.get(f"/deploys/{deploy_id}/lines?start={total - 10}&stop={total - 7}").json()
    assert got == {
        "start": total - 10,
        "stop": total - 7,
        "total": total,
        "complete": True,
        "lines": [f"extra {n}" for n in range(EXTRA - 10, EXTRA - 7)],
    }
    assert browser.get("/deploys/0123456789abcdef/lines").status_code == 404


def test_search_finds_line_numbers_as_json_and_on_the_page_without_javascript(browser: Browser) -> None:
    deploy_id, total = long_log(browser)
    number = total - EXTRA + 4321
    found = browser.get(f"/deploys/{deploy_id}/search?q=EXTRA 4321").json()
    assert found == {"hits": [{"n": number, "line": "extra 4321"}], "total": total, "more": False}
    page = browser.get(f"/deploys/{deploy_id}?q=extra 4321")
    link = f'?from={number - WINDOW // 2}#L{number + 1}" data-line="{number}">line {number + 1}</a>'
    assert link in page.text
    assert f'id="L{number + 1}"' in page.text  # the window around the first match
    assert "No line matches" in browser.get(f"/deploys/{deploy_id}?q=nowhere").text
    assert browser.get(f"/deploys/{deploy_id}/search?q=" + "x" * 201).status_code == 422


def test_the_whole_log_downloads_as_a_text_attachment(browser: Browser) -> None:
    deploy_id, total = long_log(browser)
    browser.bed.services.logs.append(deploy_id, HOSTILE)
    got = browser.get(f"/deploys/{deploy_id}/log.txt")
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/plain")
    assert got.headers["content-disposition"] == f'attachment; filename="deploy-{deploy_id}.log"'
    lines = got.text.splitlines()
    assert len(lines) == total + 1 and lines[-2:] == [f"extra {EXTRA - 1}", HOSTILE]


def test_the_live_stream_sends_batches_numbered_by_line_and_resumes_from_last_event_id(
    browser: Browser,
) -> None:
    deploy_id, total = long_log(browser)
    with browser.client.stream("GET", f"/live/deploys/{deploy_id}/lines") as stream:
        text = stream.read().decode()
    events = sse_blocks(text)
    sent = [line for event, data in events if event == "lines" for line in data["lines"]]  # type: ignore[index]
    assert len(sent) == total and sent[-1] == f"extra {EXTRA - 1}"
    assert events[-1] == ("end", {"total": total, "status": "succeeded", "error": ""})
    assert f"id: {total}\n" in text
    headers = {"Last-Event-ID": str(total - 2)}
    with browser.client.stream("GET", f"/live/deploys/{deploy_id}/lines?from=5", headers=headers) as stream:
        rest = sse_blocks(stream.read().decode())
    assert rest[0] == ("lines", {"from": total - 2, "lines": [f"extra {EXTRA - 2}", f"extra {EXTRA - 1}"]})
    with browser.client.stream("GET", f"/live/deploys/{deploy_id}/lines?from={total - 1}") as stream:
        last = sse_blocks(stream.read().decode())[0]
    assert last == ("lines", {"from": total - 1, "lines": [f"extra {EXTRA - 1}"]})


def test_log_routes_need_a_session(browser: Browser) -> None:
    deploy_id, _ = long_log(browser)
    browser.client.cookies.clear()
    for tail in ["lines", "search?q=a", "log.txt"]:
        assert browser.get(f"/deploys/{deploy_id}/{tail}").status_code == 303


def test_a_scoped_developer_gets_no_range_search_download_or_stream_of_another_apps_log(bed: Bed) -> None:
    bed.create_app("web")
    bed.create_app("shop")
    add_user(bed, "dora", "developer", ["web"])
    dora = browser_of(bed, "dora")
    theirs, mine = bed.deploy("shop")["id"], bed.deploy("web")["id"]
    for tail in ["/lines", "/search?q=a", "/log.txt", "?from=0"]:
        assert dora.get(f"/deploys/{theirs}{tail}").status_code == 403, tail
        assert dora.get(f"/deploys/{mine}{tail}").status_code == 200, tail
    assert dora.get(f"/live/deploys/{theirs}/lines").status_code == 403
