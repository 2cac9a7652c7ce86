"""Container deaths (and starts) from the engine's event stream, across engine restarts."""

import threading
from collections.abc import Callable
from typing import Any

from controller.adapters.docker.connection import DockerConnection
from controller.adapters.docker.event_stream import container_events
from controller.adapters.docker.inspection import event_container_id, exit_from_event
from controller.domain.errors import DockyardError
from controller.domain.models import ContainerExit, ContainerInfo

RECONNECT_WAIT_SECONDS = 1.0


def watch_deaths(
    connection: DockerConnection,
    labels: list[str],
    on_death: Callable[[ContainerExit], None],
    stop: threading.Event,
    *,
    inspect: Callable[[str], ContainerInfo],
    on_start: Callable[[str], None] | None = None,
) -> None:
    """Call `on_death` whenever a container with `labels` dies, and `on_start` (with its id)
    whenever one starts, until `stop`.

    Blocks; reconnects after Docker restarts (waiting a second between tries). `inspect`
    tells a crash (Docker is restarting the container) from a stop.
    """
    actions = ("die", "start") if on_start is not None else ("die",)
    while not stop.is_set():
        try:
            with connection.calls():
                client = connection.new_client(version=connection.api().api_version)
                with container_events(
                    client, labels, stop, actions=actions, closer_name="dockyard-events-close"
                ) as events:
                    for event in events:
                        if on_start is not None and event.get("Action") == "start":
                            on_start(event_container_id(event))
                        else:
                            on_death(_exit_of(event, inspect))
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
