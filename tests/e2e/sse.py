"""Reading the controller's event stream (Server-Sent Events) the way a client does."""

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.e2e.conftest import TOKEN, Controller

Event = tuple[str, str, dict[str, Any]]  # id, type, data
WAIT = 120.0  # seconds: a bound, never reached when things work


def read_events(
    ctl: Controller, after: str, until: Callable[[list[Event]], bool], wait: float = WAIT
) -> list[Event]:
    """The events after the id `after` (sent as Last-Event-ID), until `until` holds for them."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Last-Event-ID": after}
    seen: list[Event] = []
    deadline = time.monotonic() + wait
    with httpx.stream("GET", f"{ctl.url}/api/v1/events", headers=headers, timeout=wait) as stream:
        block: dict[str, str] = {}
        for line in stream.iter_lines():
            assert time.monotonic() < deadline, seen
            if line:
                key, _, value = line.partition(": ")
                block[key] = value
                continue
            if "data" in block:
                seen.append((block["id"], block["event"], json.loads(block["data"])))
                if until(seen):
                    break
            block = {}
    return seen


def current_event_id(ctl: Controller) -> str:
    """The id of the newest event: a resync for an unknown id carries it."""
    ((event_id, kind, _),) = read_events(ctl, "unknown", lambda seen: True)
    assert kind == "resync"
    return event_id
