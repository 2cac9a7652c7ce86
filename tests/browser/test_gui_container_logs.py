"""A container writing about 1,000 lines a second, followed in a real browser against a real
controller (Docker, nginx): the page keeps a bounded number of lines, its main thread has no
long task, the newest line keeps moving; older lines are searched on the server (the form
works without JavaScript) and downloaded as a text file. Screenshots go to the test's tmp dir."""

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import add_user, log_in, watch_policy
from tests.conftest import BUSYBOX_IMAGE
from tests.e2e.conftest import Controller

pytestmark = [pytest.mark.browser, pytest.mark.integration]
WAIT_MS = 90_000
MAX_LINES = 1000  # what the logs page keeps (data-max-lines)
LONG_TASK_MS = 200
WATCH_S = 5.0  # following for at least this long
LINE_RE = re.compile(r"line-(\d+)$", re.M)

# Registered before any page script runs: every main-thread task over 50 ms (Chromium's
# Long Tasks API), kept in window.__longTasks for the test to read.
LONG_TASKS = """
window.__longTasks = [];
new PerformanceObserver(function (list) {
  list.getEntries().forEach(function (entry) { window.__longTasks.push(Math.round(entry.duration)); });
}).observe({ type: "longtask", buffered: true });
"""


def write_chatty_app(directory: Path) -> Path:
    """An app that answers HTTP (its health check) and writes ~1,000 numbered lines a second:
    100 lines as fast as the shell echoes, then a 0.1 s pause."""
    (directory / "www").mkdir(parents=True, exist_ok=True)
    (directory / "www" / "index.html").write_text("chatty")
    (directory / "Dockerfile").write_text(
        f"FROM {BUSYBOX_IMAGE}\n"
        "COPY www /www\n"
        "EXPOSE 8080\n"
        'CMD ["sh", "-c", "httpd -p $PORT -h /www; i=0; '
        "while true; do i=$((i+1)); echo line-$i; "
        'if [ $((i % 100)) = 0 ]; then sleep 0.1; fi; done"]\n'
    )
    return directory


def numbers(text: str) -> list[int]:
    return [int(n) for n in LINE_RE.findall(text)]


def sample(page: Page) -> tuple[int, int]:
    """(lines in the log's <pre>, the newest line number in it)."""
    count, text = page.evaluate(
        "() => { const pre = document.getElementById('container-log');"
        " return [pre.childNodes.length, pre.textContent]; }"
    )
    lines = text.count("\n")
    return max(count, lines), max(numbers(text), default=0)


def test_a_container_writing_1000_lines_a_second_stays_usable(
    controller: Controller, chromium: Browser, page: Page, tmp_path: Path
) -> None:
    screens = tmp_path / "screenshots"
    screens.mkdir()
    violations = watch_policy(page, accept_dialogs=False)
    page.add_init_script(LONG_TASKS)

    add_user(controller, "ada", "admin")
    assert controller.api("POST", "/apps", json={"name": "chatty"}).status_code == 201
    controller.cli("deploy", "chatty", "--path", str(write_chatty_app(tmp_path / "app")))
    log_in(page, controller)

    # Following: the tail, then new lines as they come, never more than the page keeps.
    page.goto(controller.url + "/apps/chatty/logs")
    log = page.locator("#container-log")
    expect(page.locator("#log-status")).to_have_text("Following new lines.", timeout=WAIT_MS)
    expect(log).to_contain_text("line-", timeout=30_000)
    page.evaluate("() => { window.__longTasks = []; }")  # loading the page is not following
    first_count, first_newest = sample(page)
    assert first_count <= MAX_LINES
    samples = [(first_count, first_newest)]
    started = time.monotonic()
    # At least WATCH_S seconds, and until more lines went by than the page keeps (the bound
    # is then what keeps the page small, not a quiet container).
    while time.monotonic() - started < WATCH_S or samples[-1][1] - first_newest <= 2 * MAX_LINES:
        assert time.monotonic() - started < 60, f"the log stopped moving: {samples}"
        page.wait_for_timeout(500)
        samples.append(sample(page))
    counts = [count for count, _ in samples]
    newest = [number for _, number in samples]
    assert max(counts) <= MAX_LINES, samples
    assert all(later > earlier for earlier, later in zip(newest[::2], newest[2::2], strict=False)), samples
    assert newest[-1] - first_newest > 2 * MAX_LINES, samples
    long_tasks = page.evaluate("() => window.__longTasks")
    assert [ms for ms in long_tasks if ms > LONG_TASK_MS] == [], long_tasks
    shown_lines = numbers(log.text_content() or "")
    assert shown_lines == sorted(shown_lines)  # in order, newest last
    page.screenshot(path=screens / "01-following.png")

    # The filter box hides the lines without its text among those the page keeps, new ones too.
    prefix = f"line-{str(newest[-1])[:-2]}"  # the newest hundred or so, and those to come
    page.get_by_label("Show only lines containing").fill(prefix.upper())  # case ignored
    expect(log).to_contain_text(prefix)
    page.wait_for_timeout(1000)
    filtered = (log.text_content() or "").splitlines()
    assert filtered and all(prefix in line for line in filtered), filtered
    assert len(filtered) < MAX_LINES
    page.screenshot(path=screens / "01-filtered.png")
    page.get_by_label("Show only lines containing").fill("")
    expect(log).not_to_have_text(re.compile(rf"^(.*{prefix}.*\n)*$"))  # every line again
    assert sample(page)[0] <= MAX_LINES

    # Searching the server's copy: a line long gone from the page, found by its number.
    wanted = first_newest  # written, and left the page long ago (over 2,000 lines since)
    assert wanted not in shown_lines
    page.get_by_label("Search the log for").fill(f"line-{wanted}")
    page.get_by_label("in the last").fill("100000")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(rf"/apps/chatty/logs\?q=line-{wanted}&lines=100000$"))
    found = page.locator("#container-log")
    expect(found).to_contain_text(f"line-{wanted}")
    assert wanted in numbers(found.text_content() or "")
    assert all(f"line-{wanted}" in line for line in (found.text_content() or "").splitlines())
    expect(page.locator("#search-summary")).to_contain_text(f"containing “line-{wanted}”")
    assert page.locator("pre[data-follow-container]").count() == 0  # a result is not followed
    page.screenshot(path=screens / "02-search.png")

    # The search form works with JavaScript off too; a search text too long is refused by it.
    plain_context = chromium.new_context(java_script_enabled=False)
    try:
        plain = plain_context.new_page()
        log_in(plain, controller)
        plain.goto(controller.url + "/apps/chatty/logs")
        expect(plain.locator("#container-log")).to_contain_text("line-")
        plain.get_by_label("Search the log for").fill(f"line-{wanted}")
        plain.get_by_label("in the last").fill("100000")
        plain.get_by_role("button", name="Search").click()
        expect(plain.locator("#search-summary")).to_contain_text(f"containing “line-{wanted}”")
        assert wanted in numbers(plain.locator("#container-log").text_content() or "")
        plain.goto(controller.url + "/apps/chatty/logs?q=" + "x" * 201)
        expect(plain.locator("#log-q-error")).to_contain_text("at most 200 characters")
        plain.screenshot(path=screens / "03-search-refused-no-javascript.png")
    finally:
        plain_context.close()

    # The rest as a text file: the download link on the following page.
    page.goto(controller.url + "/apps/chatty/logs")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="download the last 10,000").click()
    download = download_info.value
    assert download.suggested_filename == "chatty-logs.txt"
    saved = tmp_path / "chatty-logs.txt"
    download.save_as(saved)
    downloaded = numbers(saved.read_text())
    assert len(downloaded) == 10_000 or downloaded[0] == 1  # the last 10,000, or all there is
    assert downloaded[-1] >= newest[-1]
    assert downloaded == list(range(downloaded[0], downloaded[0] + len(downloaded)))  # in order

    assert violations == []
