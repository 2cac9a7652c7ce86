"""The GUI's live streams: a deploy's log lines as they come, and the controller's events."""

import json

from tests.web.conftest import Browser
from tests.web.test_pages import HOSTILE, deployed


def sse_blocks(text: str) -> list[tuple[str, object]]:
    blocks = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if "event" in fields:
            blocks.append((fields["event"], json.loads(fields["data"])))
    return blocks


def test_a_log_line_with_a_script_tag_reaches_the_page_as_data_not_markup(browser: Browser) -> None:
    deployed(browser, "web")
    deploy = browser.bed.services.history.of_app("web", limit=1)[0]
    browser.bed.services.logs.append(deploy.id, HOSTILE)
    with browser.client.stream("GET", f"/live/deploys/{deploy.id}/lines") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = sse_blocks(stream.read().decode())
    sent = [line for event, data in events if event == "lines" for line in data["lines"]]  # type: ignore[index]
    assert sent[-1] == HOSTILE  # JSON data; logview.js appends it as a text node


def test_the_event_stream_tells_open_pages_about_deploys(browser: Browser) -> None:
    browser.bed.create_app("web")
    with browser.client.stream("GET", "/live/events") as stream:
        assert stream.status_code == 200
        chunks = stream.iter_raw()
        assert next(chunks).startswith(b": connected")
        assert browser.post("/apps/web/config", {"key": "A", "value": "1"}).status_code == 303
        seen: list[object] = []
        for chunk in chunks:
            seen += [data for event, data in sse_blocks(chunk.decode()) if event == "deploy"]
            if seen:
                break
    assert seen[0]["app"] == "web"  # type: ignore[index]
