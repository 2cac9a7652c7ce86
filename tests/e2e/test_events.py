"""The event stream outlives the controller: a client resumes across a restart, missing nothing."""

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import write_static_app
from tests.e2e.conftest import TOKEN, Controller

pytestmark = pytest.mark.integration


Seen = list[tuple[str, str, dict[str, Any]]]


def read_events(ctl: Controller, until: str, last_event_id: str) -> Seen:
    """(id, type, data) of each event until one whose data has status `until` (or a resync)."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Last-Event-ID": last_event_id}
    seen: Seen = []
    deadline = time.monotonic() + 120
    with httpx.stream("GET", f"{ctl.url}/api/v1/events", headers=headers, timeout=120) as stream:
        block: dict[str, str] = {}
        for line in stream.iter_lines():
            assert time.monotonic() < deadline, seen
            if line:
                key, _, value = line.partition(": ")
                block[key] = value
                continue
            if "data" in block:
                data = json.loads(block["data"])
                seen.append((block["id"], block["event"], data))
                if block["event"] == "resync" or data.get("status") == until:
                    return seen
            block = {}
    return seen


def test_a_client_resumes_the_event_stream_across_a_controller_restart(
    controller: Controller, tmp_path: Path
) -> None:
    ctl = controller
    ctl.cli("apps", "create", "resumed")
    ctl.cli("deploy", "resumed", "--path", str(write_static_app(tmp_path / "v1", body="one")))
    # An unknown id gets a resync event, whose id names the history; from its start, all of it.
    ((resync_id, kind, _),) = read_events(ctl, until="-", last_event_id="unknown")
    assert kind == "resync"
    epoch = resync_id.rpartition("-")[0]
    first = read_events(ctl, until="succeeded", last_event_id=f"{epoch}-0")
    # A client that saw the deploy start, then lost its connection...
    running = next(event_id for event_id, kind, data in first if data.get("status") == "running")
    ctl.kill()
    ctl.start()
    # ...comes back after the restart and gets exactly what it missed, no resync.
    resumed = read_events(ctl, until="succeeded", last_event_id=running)
    assert "resync" not in [kind for _, kind, _ in resumed], resumed
    assert resumed[-1][2]["status"] == "succeeded" and resumed[-1][0] == first[-1][0]
    assert [event_id for event_id, _, _ in resumed] == [
        event_id for event_id, _, _ in first[first.index(next(e for e in first if e[0] == running)) + 1 :]
    ]
