"""One shared docker-py client per runtime, made again after the engine went away."""

import math
import threading
from contextlib import AbstractContextManager

import docker
from docker.utils import kwargs_from_env

from controller.adapters.docker.errors import translated_errors


class DockerConnection:
    """The engine at `base_url` (None: DOCKER_HOST or the default socket).

    Args:
        timeout: seconds to wait for each API answer (builds and log streams excepted).
    """

    def __init__(self, *, base_url: str | None, timeout: float) -> None:
        self._base_url = base_url
        self._timeout = max(1, math.ceil(timeout))
        self._client: docker.APIClient | None = None
        self._client_lock = threading.Lock()

    def new_client(self, version: str | None = None) -> docker.APIClient:
        """A client; version None asks the engine (and fails when it is down)."""
        if self._base_url is not None:
            return docker.APIClient(base_url=self._base_url, version=version, timeout=self._timeout)
        return docker.APIClient(version=version, timeout=self._timeout, **kwargs_from_env())

    def api(self) -> docker.APIClient:
        """The shared client, created on first use and again after a connection failure."""
        with self._client_lock:
            if self._client is None:
                self._client = self.new_client()
            return self._client

    def forget_client(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def calls(self) -> AbstractContextManager[None]:
        """Translate docker-py and transport errors; an unreachable engine drops the client."""
        return translated_errors(self.forget_client)
