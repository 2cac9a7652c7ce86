"""The keeper's small view of the Docker Engine: container deaths, and starting one again.

Kept apart from the full runtime adapter so the keeper process loads little, and so it
can also serve the controller as the `ContainerStarter` of its reconciler.
"""

import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import docker
import docker.errors
import requests
import urllib3.exceptions
from docker.utils import kwargs_from_env

from controller.adapters.docker.event_stream import container_events
from controller.domain.containers import LABEL_APP, LABEL_INSTANCE, LABEL_MANAGED
from controller.domain.errors import DockyardError, NotFound, RuntimeUnavailable
from controller.services.keeper import StoppedContainer

RECONNECT_SECONDS = 1.0
_TRANSPORT_ERRORS = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    ConnectionError,
    TimeoutError,
)


class DockerKeeper:
    """Watches this instance's containers die, and starts a stopped one again.

    Args:
        instance: the controller instance whose labelled containers are watched.
        base_url: the engine's address; None means the DOCKER_HOST environment.
        timeout: seconds to wait for each API answer (the event stream excepted).
    """

    def __init__(self, *, instance: str, base_url: str | None = None, timeout: float = 30) -> None:
        self._instance = instance
        self._base_url = base_url
        self._timeout = max(1, math.ceil(timeout))
        self._client: docker.APIClient | None = None
        self._lock = threading.Lock()

    def _new_client(self) -> docker.APIClient:
        if self._base_url is not None:
            return docker.APIClient(base_url=self._base_url, timeout=self._timeout)
        return docker.APIClient(timeout=self._timeout, **kwargs_from_env())

    def _api(self) -> docker.APIClient:
        with self._lock:
            if self._client is None:
                self._client = self._new_client()
            return self._client

    @contextmanager
    def _docker_calls(self) -> Iterator[None]:
        try:
            yield
        except docker.errors.NotFound as exc:
            raise NotFound(str(exc.explanation or exc)) from exc
        except docker.errors.APIError as exc:
            raise DockyardError(f"Docker refused the request: {exc.explanation or exc}") from exc
        except (*_TRANSPORT_ERRORS, docker.errors.DockerException) as exc:
            with self._lock:
                client, self._client = self._client, None
            if client is not None:
                client.close()
            raise RuntimeUnavailable(f"Docker daemon is not reachable: {exc}") from exc

    def start_container(self, container_id: str) -> None:
        """Start the stopped container; one that already runs is left as it is."""
        with self._docker_calls():
            self._api().start(container_id)

    def state_of(self, container_id: str) -> str:
        """Docker's state of the container ("exited", "restarting", ...), "" when it is gone."""
        try:
            with self._docker_calls():
                attrs: dict[str, Any] = self._api().inspect_container(container_id)
        except NotFound:
            return ""
        return str((attrs.get("State") or {}).get("Status") or "")

    def watch_stops(self, on_stop: Callable[[StoppedContainer], None], stop: threading.Event) -> None:
        """Call `on_stop` for each of this instance's containers that dies, until `stop`.

        Docker sets the container's new state (restarting by its policy, or exited) before
        it sends the `die` event, so the state read here tells the two apart. Blocks;
        reconnects after Docker restarts.
        """
        labels = [f"{LABEL_MANAGED}=true", f"{LABEL_INSTANCE}={self._instance}"]
        while not stop.is_set():
            with (
                suppress(DockyardError, OSError, ValueError),
                self._docker_calls(),
                container_events(
                    self._new_client(), labels, stop, closer_name="dockyard-keeper-close"
                ) as events,
            ):
                for event in events:
                    on_stop(self._stopped(event))
            stop.wait(RECONNECT_SECONDS)

    def _stopped(self, event: dict[str, Any]) -> StoppedContainer:
        actor = event.get("Actor") or {}
        attributes: dict[str, str] = actor.get("Attributes") or {}
        container_id = str(event.get("id") or actor.get("ID") or "")
        return StoppedContainer(
            id=container_id,
            name=attributes.get("name", container_id[:12]),
            app=attributes.get(LABEL_APP, ""),
            state=self.state_of(container_id),
        )
