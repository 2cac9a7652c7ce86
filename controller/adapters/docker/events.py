"""Container deaths from the engine's event stream, across engine restarts."""

import threading
from collections.abc import Callable
from typing import Any

from docker.types import CancellableStream

from controller.adapters.docker.connection import DockerConnection
from controller.adapters.docker.inspection import event_container_id, exit_from_event
from controller.domain.errors import DockyardError
from controller.domain.models import ContainerExit, ContainerInfo

RECONNECT_WAIT_SECONDS = 1.0
STOP_CHECK_SECONDS = 0.5


def watch_deaths(
    connection: DockerConnection,
    labels: list[str],
    on_death: Callable[[ContainerExit], None],
    stop: threading.Event,
    *,
    inspect: Callable[[str], ContainerInfo],
) -> None:
    """Call `on_death` whenever a container with `labels` dies, until `stop`.

    Blocks; reconnects after Docker restarts (waiting a second between tries). `inspect`
    tells a crash (Docker is restarting the container) from a stop.
    """
    while not stop.is_set():
        try:
            with connection.calls():
                client = connection.new_client(version=connection.api().api_version)
                events = client.events(
                    decode=True, filters={"type": "container", "event": "die", "label": labels}
                )
                ended = threading.Event()
                threading.Thread(
                    target=_close_when_stopped,
                    args=(events, ended, stop),
                    daemon=True,
                    name="dockyard-events-close",
                ).start()
                try:
                    for event in events:
                        on_death(_exit_of(event, inspect))
                finally:
                    ended.set()
        except (DockyardError, OSError, ValueError):
            pass
        stop.wait(RECONNECT_WAIT_SECONDS)


def _exit_of(event: dict[str, Any], inspect: Callable[[str], ContainerInfo]) -> ContainerExit:
    """What a `die` event says; a crash if Docker is restarting the container (nobody stopped it)."""
    try:
        state = inspect(event_container_id(event))
        crashed = state.state == "restarting" or (state.state == "running" and state.restart_count > 0)
    except DockyardError:
        crashed = False  # removed already: Dockyard (or someone) stopped it
    return exit_from_event(event, crashed=crashed)


def _close_when_stopped(
    events: "CancellableStream[Any]", ended: threading.Event, stop: threading.Event
) -> None:
    """Close an event stream when `stop` is set, or return once the stream ended by itself."""
    while not ended.wait(STOP_CHECK_SECONDS):
        if stop.is_set():
            events.close()
            return
