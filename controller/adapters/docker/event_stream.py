"""The engine's events of labelled containers (`die`, and `start` for the controller), as a
stream that a stop event ends.

Shared by the controller's container watch and the keeper's: both block reading the
stream, so a thread closes it once `stop` is set.
"""

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import docker
from docker.types import CancellableStream

STOP_CHECK_SECONDS = 0.5


@contextmanager
def container_events(
    client: docker.APIClient,
    labels: list[str],
    stop: threading.Event,
    *,
    actions: Sequence[str] = ("die",),
    closer_name: str,
) -> Iterator[Iterator[dict[str, Any]]]:
    """The decoded events (of `actions`) of containers with all `labels`, until `stop` is set."""
    filters = {"type": "container", "event": list(actions), "label": labels}
    events = client.events(decode=True, filters=filters)
    ended = threading.Event()
    threading.Thread(
        target=_close_when_stopped, args=(events, ended, stop), daemon=True, name=closer_name
    ).start()
    try:
        yield events
    finally:
        ended.set()


def _close_when_stopped(
    events: "CancellableStream[Any]", ended: threading.Event, stop: threading.Event
) -> None:
    """Close an event stream when `stop` is set (ending its blocked reader), or return once it ended."""
    while not ended.wait(STOP_CHECK_SECONDS):
        if stop.is_set():
            with suppress(Exception):
                events.close()
            return
