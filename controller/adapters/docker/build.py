"""Streaming image builds with the classic builder, stopped by a watchdog on timeout or cancel."""

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests

from controller.adapters.docker.context import LABELLED_DOCKERFILE, labelled_context
from controller.adapters.docker.errors import TRANSPORT_ERRORS, explain
from controller.adapters.docker.inspection import inspect_image
from controller.adapters.docker.layers import LayerTracker
from controller.domain.errors import BuildFailed, DeployCancelled, DockyardError
from controller.services.ports import LogSink

WATCHDOG_INTERVAL_SECONDS = 0.2
_RUNNING_IN = re.compile(r"^ ---> Running in ([0-9a-f]{12,64})\s*$")


class WatchedBuild:
    """One streaming build, interrupted by a watchdog thread on timeout or cancel.

    Interrupting removes the build's running container (so a hanging RUN really stops)
    and shuts the HTTP connection down, which makes the engine cancel the build.
    """

    def __init__(
        self,
        builder: docker.APIClient,
        api: docker.APIClient,
        *,
        timeout: float,
        cancel: threading.Event | None,
    ) -> None:
        self._builder = builder
        self._api = api
        self._timeout = timeout
        self._deadline = time.monotonic() + timeout
        self._cancel = cancel
        self._finished = threading.Event()
        self._response: requests.Response | None = None
        self._container: str | None = None
        self._stopped: DockyardError | None = None
        self.layers = LayerTracker()
        builder.hooks["response"].append(self._capture_response)

    def run(self, *, context_dir: Path, tag: str, labels: dict[str, str], on_log: LogSink) -> str:
        """Return the built image's id."""
        watchdog = threading.Thread(target=self._watch, name=f"build-watchdog-{tag}", daemon=True)
        watchdog.start()
        try:
            return self._stream(context_dir=context_dir, tag=tag, labels=labels, on_log=on_log)
        except docker.errors.APIError as exc:
            self._raise_if_stopped()
            raise BuildFailed(explain(exc)) from exc
        except TRANSPORT_ERRORS:
            self._raise_if_stopped()
            raise
        finally:
            self._finished.set()
            watchdog.join()
            if self._response is not None:
                self._response.close()

    def _stream(self, *, context_dir: Path, tag: str, labels: dict[str, str], on_log: LogSink) -> str:
        with ExitStack() as closing:
            context = labelled_context(context_dir, labels)
            if context is None:  # the builder appends one LABEL step per label
                chunks = self._builder.build(
                    path=str(context_dir), tag=tag, labels=labels, decode=True, rm=True, forcerm=True
                )
            else:
                closing.enter_context(context)
                chunks = self._builder.build(
                    fileobj=context,
                    custom_context=True,
                    dockerfile=LABELLED_DOCKERFILE,
                    tag=tag,
                    decode=True,
                    rm=True,
                    forcerm=True,
                )
            image_id = self._follow(chunks, on_log)
        self._raise_if_stopped()
        if image_id is None:
            image_id = str(inspect_image(self._api, tag)["Id"])
        return image_id

    def _follow(self, chunks: Iterator[dict[str, Any]], on_log: LogSink) -> str | None:
        image_id: str | None = None
        for chunk in chunks:
            self._raise_if_stopped()
            if "error" in chunk or "errorDetail" in chunk:
                raise BuildFailed(_build_error(chunk))
            image_id = _aux_image_id(chunk) or image_id
            for line in _build_lines(chunk):
                if match := _RUNNING_IN.match(line):
                    self._container = match.group(1)
                self.layers.feed(line)
                on_log(line)
        return image_id

    def _capture_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._response = response
        if self._stopped is not None:
            _shutdown_response(response)

    def _watch(self) -> None:
        while not self._finished.wait(WATCHDOG_INTERVAL_SECONDS):
            if self._cancel is not None and self._cancel.is_set():
                self._stopped = DeployCancelled("build cancelled")
            elif time.monotonic() >= self._deadline:
                self._stopped = BuildFailed(f"build timed out after {self._timeout:g} s")
            else:
                continue
            self._interrupt()
            return

    def _interrupt(self) -> None:
        if self._container is not None:
            with suppress(docker.errors.APIError, *TRANSPORT_ERRORS):
                self._api.remove_container(self._container, force=True)
        if self._response is not None:
            _shutdown_response(self._response)

    def _raise_if_stopped(self) -> None:
        if self._stopped is not None:
            raise self._stopped


def _build_lines(chunk: dict[str, Any]) -> list[str]:
    """The human lines of one build chunk; pull progress updates are left out."""
    if isinstance(chunk.get("stream"), str):
        text: str = chunk["stream"]
    elif isinstance(chunk.get("status"), str) and not chunk.get("progressDetail"):
        text = f"{chunk['id']}: {chunk['status']}" if chunk.get("id") else chunk["status"]
    else:
        return []
    return [line for line in text.splitlines() if line.strip()]


def _build_error(chunk: dict[str, Any]) -> str:
    detail = chunk.get("errorDetail") or {}
    message = chunk.get("error") or detail.get("message") or "build failed"
    return str(message).strip()


def _aux_image_id(chunk: dict[str, Any]) -> str | None:
    aux = chunk.get("aux")
    if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
        return str(aux["ID"])
    return None


def _shutdown_response(response: requests.Response) -> None:
    """Wake up whoever is blocked reading `response`, from any thread."""
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if isinstance(sock, socket.socket):
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
