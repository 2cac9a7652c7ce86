"""The `Runtime` port over the Docker Engine API (docker-py's low-level APIClient).

This is the only module that imports docker. Every SDK or transport error is mapped
here to a domain error, so callers only ever see `DockyardError` subclasses.
"""

import fcntl
import math
import os
import queue
import re
import socket
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import docker
import docker.errors
import docker.types
import requests
import urllib3.exceptions
from docker.types import CancellableStream
from docker.utils import kwargs_from_env

from controller.adapters.build_context import LABELLED_DOCKERFILE, labelled_context
from controller.domain.containers import (
    LABEL_APP,
    LABEL_INSTANCE,
    LABEL_MANAGED,
    LABEL_PROCESS,
    LABEL_RELEASE,
    ContainerSpec,
)
from controller.domain.errors import (
    BuildFailed,
    Conflict,
    DeployCancelled,
    DockyardError,
    NotFound,
    RuntimeUnavailable,
)
from controller.domain.models import ContainerExit, ContainerInfo
from controller.services.ports import BuiltImage, LogSink

ADDRESS_WAIT_SECONDS = 5.0
ADDRESS_POLL_SECONDS = 0.05
WATCHDOG_INTERVAL_SECONDS = 0.2
LOG_QUEUE_LINES = 1000
LOG_LINE_MAX_BYTES = 64 * 1024
LOG_LINE_SEPARATOR = " | "
DOCKER_DNS = "127.0.0.11"

_VERSION_FETCH_FAILED = "Error while fetching server API version"
_RUNNING_IN = re.compile(r"^ ---> Running in ([0-9a-f]{12,64})\s*$")
# The classic builder ends every Dockerfile step with the id of the image it produced.
_STEP_IMAGE = re.compile(r"^ ---> ([0-9a-f]{12,64})\s*$")
_STEP_START = re.compile(r"^Step \d+/\d+ : (\S+)")
_STEP_CACHED = " ---> Using cache"
_STEP_TRIGGERS = "# Executing "
# Parent links walked to tell a successful build's leftover layers from the image's own.
MAX_ANCESTRY = 1000
_HEALTH_IN_STATUS = re.compile(r"\((healthy|unhealthy|health: starting)\)")
# One network creation at a time in this process, whichever DockerRuntime asks.
_NETWORK_CREATION = threading.Lock()
_TRANSPORT_ERRORS = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    ConnectionError,
    TimeoutError,
)


class DockerRuntime:
    """Runs Dockyard's builds and containers on one Docker Engine.

    Args:
        instance: this controller's id, stamped as `io.dockyard.instance` and used to
            find its own containers and images (and nothing else).
        network: the default Dockyard network, whose address `inspect_container` and
            `list_containers` report first.
        base_url: the engine's address; None means the DOCKER_HOST environment (or the
            default unix socket).
        timeout: seconds to wait for each API answer (builds and log streams excepted).
        build_layers: the journal of intermediate images that builds created and left
            dangling (failed, cancelled or timed-out builds, earlier stages of multi-stage
            ones), which `prune_build_layers` removes; None records and prunes nothing.
        log_max_size, log_max_files: the rotation of each container's json-file log
            (Docker's `max-size` such as "10m", and how many files to keep), so a chatty
            app cannot fill the disk.
    """

    def __init__(
        self,
        *,
        instance: str,
        network: str,
        base_url: str | None = None,
        timeout: float = 60,
        build_layers: Path | None = None,
        log_max_size: str = "10m",
        log_max_files: int = 3,
    ) -> None:
        self._instance = instance
        self._log_config = docker.types.LogConfig(
            type=docker.types.LogConfig.types.JSON,
            config={"max-size": log_max_size, "max-file": str(log_max_files)},
        )
        self._layers = _LayerJournal(build_layers) if build_layers is not None else None
        self._network = network
        self._base_url = base_url
        self._timeout = max(1, math.ceil(timeout))
        self._client: docker.APIClient | None = None
        self._client_lock = threading.Lock()

    # -- connection and error mapping -----------------------------------------------

    def _new_client(self, version: str | None = None) -> docker.APIClient:
        """A client; version None asks the engine (and fails when it is down)."""
        if self._base_url is not None:
            return docker.APIClient(base_url=self._base_url, version=version, timeout=self._timeout)
        return docker.APIClient(version=version, timeout=self._timeout, **kwargs_from_env())

    def _api(self) -> docker.APIClient:
        """The shared client, created on first use and again after a connection failure."""
        with self._client_lock:
            if self._client is None:
                self._client = self._new_client()
            return self._client

    def _forget_client(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    @contextmanager
    def _docker_calls(self) -> Iterator[None]:
        """Translate docker-py and transport errors into domain errors."""
        try:
            yield
        except docker.errors.NotFound as exc:
            raise NotFound(_explain(exc)) from exc
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                raise Conflict(_explain(exc)) from exc
            raise DockyardError(f"Docker refused the request: {_explain(exc)}") from exc
        except _TRANSPORT_ERRORS as exc:
            self._forget_client()
            raise RuntimeUnavailable(f"Docker daemon is not reachable: {exc}") from exc
        except docker.errors.DockerException as exc:
            if _VERSION_FETCH_FAILED in str(exc):
                self._forget_client()
                raise RuntimeUnavailable(f"Docker daemon is not reachable: {exc}") from exc
            raise DockyardError(f"Docker error: {exc}") from exc

    # -- Runtime ----------------------------------------------------------------------

    def ping(self) -> None:
        with self._docker_calls():
            self._api().ping()

    def build_image(
        self,
        *,
        context_dir: Path,
        tag: str,
        labels: dict[str, str],
        on_log: LogSink,
        timeout: float,
        cancel: threading.Event | None = None,
    ) -> BuiltImage:
        """Build `context_dir`'s Dockerfile with the classic builder, streaming its output.

        Raises:
            BuildFailed: the build's own error, a Dockerfile error, or the timeout.
            DeployCancelled: `cancel` was set; the build was interrupted.
        """
        if cancel is not None and cancel.is_set():
            raise DeployCancelled("build cancelled before it started")
        with self._docker_calls():
            api = self._api()
            builder = self._new_client(version=api.api_version)
            build = _WatchedBuild(builder, api, timeout=timeout, cancel=cancel)
            try:
                image_id = build.run(context_dir=context_dir, tag=tag, labels=labels, on_log=on_log)
            except BaseException:
                self._journal_layers(api, build.layers.new_layers, final_image=None)
                raise
            finally:
                builder.close()
            self._journal_layers(api, build.layers.new_layers, final_image=image_id)
            return BuiltImage(id=image_id, exposed_ports=_exposed_tcp_ports(_inspect_image(api, image_id)))

    def image_exposed_ports(self, image_id: str) -> tuple[int, ...]:
        with self._docker_calls():
            return _exposed_tcp_ports(_inspect_image(self._api(), image_id))

    def run_container(self, spec: ContainerSpec) -> ContainerInfo:
        """Create and start `spec` on its network, without published ports."""
        with self._docker_calls():
            api = self._api()
            network_id = _ensure_network(api, spec.network)
            host_config = api.create_host_config(
                init=spec.init,
                restart_policy={"Name": spec.restart_policy},
                mem_limit=spec.memory_bytes,
                network_mode=network_id,
                extra_hosts=spec.extra_hosts or None,
                log_config=self._log_config,
            )
            created = api.create_container(
                image=spec.image,
                name=spec.name,
                command=list(spec.command) if spec.command is not None else None,
                environment=spec.env,
                labels=spec.labels,
                host_config=host_config,
                detach=True,
            )
            container_id: str = created["Id"]
            try:
                api.start(container_id)
            except docker.errors.APIError:
                with suppress(docker.errors.APIError):
                    api.remove_container(container_id, force=True, v=True)
                raise
            return self._wait_for_address(api, container_id, spec.network)

    def inspect_container(self, container_id: str) -> ContainerInfo:
        with self._docker_calls():
            return _info_from_inspect(self._api().inspect_container(container_id), self._network)

    def container_logs(self, container_id: str, *, tail: int = 50) -> str:
        """The last `tail` lines of stdout and stderr."""
        with self._docker_calls():
            output: bytes = self._api().logs(container_id, stdout=True, stderr=True, tail=tail)
            return output.decode("utf-8", errors="replace")

    def follow_logs(
        self, container_ids: Sequence[str], *, tail: int, follow: bool, timestamps: bool = False
    ) -> "MergedLogs":
        """Merge the containers' output into one iterator of `name | line` strings.

        Missing containers raise NotFound here, before iteration starts. Closing the
        iterator stops the reader threads and their streams.
        """
        streams: list[tuple[str, CancellableStream[bytes]]] = []
        try:
            with self._docker_calls():
                api = self._api()
                for container_id in container_ids:
                    name = api.inspect_container(container_id)["Name"].lstrip("/")
                    stream = api.logs(
                        container_id, stream=True, follow=follow, tail=tail, timestamps=timestamps
                    )
                    streams.append((name, stream))
        except DockyardError:
            _close_streams(streams)
            raise
        return MergedLogs(streams)

    def listening_ports(self, container_id: str) -> list[tuple[str, int]]:
        """The TCP (address, port) pairs the container listens on, from its /proc/net/tcp{,6}.

        Read through the host's /proc/<pid>/net (works for any image, even one without a
        shell); when that is not readable (Docker on another host), through `docker exec cat`.
        """
        with self._docker_calls():
            api = self._api()
            pid = int((api.inspect_container(container_id)["State"] or {}).get("Pid") or 0)
            texts = []
            for name in ("tcp", "tcp6"):
                try:
                    texts.append(Path(f"/proc/{pid}/net/{name}").read_text() if pid else "")
                except OSError:
                    texts = []
                    break
            if not any(texts):
                created = api.exec_create(container_id, ["cat", "/proc/net/tcp", "/proc/net/tcp6"])
                output: bytes = api.exec_start(str(created["Id"]))
                texts = [output.decode("ascii", errors="replace")]
        pairs = {pair for text in texts for pair in parse_proc_net_listeners(text)}
        # Docker's embedded DNS server listens inside every container on a user network.
        return sorted((pair for pair in pairs if pair[0] != DOCKER_DNS), key=lambda pair: (pair[1], pair[0]))

    def remove_container(self, container_id: str, *, stop_timeout: float = 10) -> None:
        """SIGTERM, SIGKILL after `stop_timeout`, then remove with its anonymous volumes."""
        with self._docker_calls():
            api = self._api()
            try:
                api.stop(container_id, timeout=math.ceil(stop_timeout))
                api.remove_container(container_id, force=True, v=True)
            except docker.errors.NotFound:
                return
            except docker.errors.APIError as exc:
                if not _removal_in_progress(exc):
                    raise

    def list_containers(self, app: str | None = None) -> list[ContainerInfo]:
        """This instance's containers in any state, from one list call (no per-container inspect)."""
        labels = [f"{LABEL_MANAGED}=true", f"{LABEL_INSTANCE}={self._instance}"]
        if app is not None:
            labels.append(f"{LABEL_APP}={app}")
        with self._docker_calls():
            summaries = self._api().containers(all=True, filters={"label": labels})
            return [_info_from_summary(summary, self._network) for summary in summaries]

    def present_images(self, app: str, image_ids: Collection[str]) -> set[str]:
        """Those of `image_ids` that are still among this instance's images of `app` (one list call)."""
        labels = [f"{LABEL_MANAGED}=true", f"{LABEL_INSTANCE}={self._instance}", f"{LABEL_APP}={app}"]
        with self._docker_calls():
            present = {image["Id"] for image in self._api().images(filters={"label": labels})}
        return {image_id for image_id in image_ids if _full_image_id(image_id) in present}

    def prune_images(self, app: str, keep_image_ids: set[str]) -> list[str]:
        """Remove this instance's images of `app` that are neither kept nor used by a container."""
        labels = [f"{LABEL_MANAGED}=true", f"{LABEL_INSTANCE}={self._instance}", f"{LABEL_APP}={app}"]
        keep = {_full_image_id(image_id) for image_id in keep_image_ids}
        with self._docker_calls():
            api = self._api()
            images = api.images(filters={"label": labels})
            protected = keep | {summary["ImageID"] for summary in api.containers(all=True)}
            return [
                image["Id"] for image in images if image["Id"] not in protected and _remove_image(api, image)
            ]

    def watch_deaths(self, on_death: Callable[[ContainerExit], None], stop: threading.Event) -> None:
        """Call `on_death` whenever one of this instance's containers dies, until `stop`.

        Blocks; reconnects after Docker restarts (waiting a second between tries).
        """
        labels = [f"{LABEL_MANAGED}=true", f"{LABEL_INSTANCE}={self._instance}"]
        while not stop.is_set():
            try:
                with self._docker_calls():
                    client = self._new_client(version=self._api().api_version)
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
                            on_death(self._exit_of(event))
                    finally:
                        ended.set()
            except (DockyardError, OSError, ValueError):
                pass
            stop.wait(1.0)

    def _exit_of(self, event: dict[str, Any]) -> ContainerExit:
        """What a `die` event says; a crash if Docker is restarting the container (nobody stopped it)."""
        attributes: dict[str, str] = (event.get("Actor") or {}).get("Attributes") or {}
        container_id = str(event.get("id") or (event.get("Actor") or {}).get("ID") or "")
        try:
            state = self.inspect_container(container_id)
            crashed = state.state == "restarting" or (state.state == "running" and state.restart_count > 0)
        except DockyardError:
            crashed = False  # removed already: Dockyard (or someone) stopped it
        code = attributes.get("exitCode", "")
        return ContainerExit(
            app=attributes.get(LABEL_APP, ""),
            release=_int_label(attributes, LABEL_RELEASE),
            process=attributes.get(LABEL_PROCESS, ""),
            container=attributes.get("name", container_id[:12]),
            exit_code=int(code) if code.lstrip("-").isdigit() else -1,
            at=datetime.fromtimestamp(event["timeNano"] / 1e9, UTC)
            if event.get("timeNano")
            else datetime.now(UTC),
            crashed=crashed,
        )

    def disk_usage(self) -> dict[str, int]:
        """Bytes and counts of what this instance owns in Docker: images and containers."""
        labels = [f"{LABEL_MANAGED}=true", f"{LABEL_INSTANCE}={self._instance}"]
        with self._docker_calls():
            api = self._api()
            images = api.images(filters={"label": labels})
            containers = api.containers(all=True, size=True, filters={"label": labels})
        return {
            "images": len(images),
            "image_bytes": sum(int(image.get("Size", 0)) for image in images),
            "containers": len(containers),
            "container_bytes": sum(int(c.get("SizeRw", 0) or 0) for c in containers),
        }

    def prune_foreign_app_images(self, apps: set[str]) -> list[str]:
        """Remove this instance's images of apps that no longer exist (and no container uses)."""
        labels = [f"{LABEL_MANAGED}=true", f"{LABEL_INSTANCE}={self._instance}"]
        with self._docker_calls():
            api = self._api()
            used = {summary["ImageID"] for summary in api.containers(all=True)}
            return [
                image["Id"]
                for image in api.images(filters={"label": labels})
                if (image.get("Labels") or {}).get(LABEL_APP) not in apps
                and image["Id"] not in used
                and _remove_image(api, image)
            ]

    def prune_build_layers(self) -> list[str]:
        """Remove the journalled build layers that are dangling and unused; return their ids.

        Only images this runtime saw its own builds create are candidates. Each is removed
        without force and without its untagged parents (those may be someone else's cached
        layers); Docker refusing (a child image or a container still uses it) keeps it
        journalled for a later prune. Ids of images that are gone leave the journal.
        """
        if self._layers is None:
            return []
        removed: list[str] = []
        settled: set[str] = set()
        try:
            with self._docker_calls():
                api = self._api()
                # Newest first: a build's later layers are the children of its earlier ones.
                for layer in reversed(self._layers.read()):
                    outcome, image_id = _remove_layer(api, layer)
                    if outcome != "kept":
                        settled.add(layer)
                    if outcome == "removed":
                        removed.append(image_id)
        finally:
            if settled:
                self._layers.discard(settled)
        return removed

    # -- helpers ------------------------------------------------------------------------

    def _journal_layers(self, api: docker.APIClient, layers: list[str], *, final_image: str | None) -> None:
        """Record the build's new layers that no image keeps: all of them when the build failed.

        Best effort: it must never hide the build's own outcome.
        """
        if self._layers is None or not layers:
            return
        try:
            full_ids = [full for layer in layers if (full := _resolve_image(api, layer))]
            if final_image is not None:
                ancestry = _ancestry(api, final_image, set(full_ids))
                full_ids = [layer for layer in full_ids if layer not in ancestry]
        except (docker.errors.DockerException, *_TRANSPORT_ERRORS):
            if final_image is not None:
                return  # most likely all the image's own parents: they go with it
            full_ids = list(layers)  # Docker went away mid-build: keep the short ids
        with suppress(OSError):
            self._layers.add(full_ids)

    def _wait_for_address(self, api: docker.APIClient, container_id: str, network: str) -> ContainerInfo:
        """Reload until the container has an address on `network`, stopped, or time ran out."""
        deadline = time.monotonic() + ADDRESS_WAIT_SECONDS
        while True:
            info = _info_from_inspect(api.inspect_container(container_id), network)
            if info.address or info.state not in ("created", "running") or time.monotonic() > deadline:
                return info
            time.sleep(ADDRESS_POLL_SECONDS)


class _WatchedBuild:
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
        self.layers = _LayerTracker()
        builder.hooks["response"].append(self._capture_response)

    def run(self, *, context_dir: Path, tag: str, labels: dict[str, str], on_log: LogSink) -> str:
        """Return the built image's id."""
        watchdog = threading.Thread(target=self._watch, name=f"build-watchdog-{tag}", daemon=True)
        watchdog.start()
        try:
            return self._stream(context_dir=context_dir, tag=tag, labels=labels, on_log=on_log)
        except docker.errors.APIError as exc:
            self._raise_if_stopped()
            raise BuildFailed(_explain(exc)) from exc
        except _TRANSPORT_ERRORS:
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
            image_id = str(_inspect_image(self._api, tag)["Id"])
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
            with suppress(docker.errors.APIError, *_TRANSPORT_ERRORS):
                self._api.remove_container(self._container, force=True)
        if self._response is not None:
            _shutdown_response(self._response)

    def _raise_if_stopped(self) -> None:
        if self._stopped is not None:
            raise self._stopped


class _LayerTracker:
    """Follows the classic builder's output and keeps the ids of the images its steps created.

    Every step ends with ` ---> <short id>`. Left out: cache hits (the image may be another
    build's) and plain FROM steps (the base image); a FROM that ran ONBUILD triggers made one.
    """

    def __init__(self) -> None:
        self.new_layers: list[str] = []
        self._instruction = ""
        self._cached = False
        self._triggers = False

    def feed(self, line: str) -> None:
        if match := _STEP_START.match(line):
            self._instruction, self._cached, self._triggers = match.group(1).upper(), False, False
        elif line.startswith(_STEP_CACHED):
            self._cached = True
        elif line.startswith(_STEP_TRIGGERS):
            self._triggers = True
        elif match := _STEP_IMAGE.match(line):
            created = self._instruction != "FROM" or self._triggers
            if self._instruction and not self._cached and created:
                self.new_layers.append(match.group(1))
            self._instruction = ""


class _LayerJournal:
    """A file of image ids, one a line; a lock file next to it serialises every change."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock_path = path.with_name(path.name + ".lock")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _lines(self) -> list[str]:
        try:
            text = self._path.read_text()
        except FileNotFoundError:
            return []
        return [line.strip() for line in text.splitlines() if line.strip()]

    def read(self) -> list[str]:
        with self._locked():
            return self._lines()

    def add(self, image_ids: Sequence[str]) -> None:
        with self._locked():
            known = set(self._lines())
            new = [image_id for image_id in dict.fromkeys(image_ids) if image_id not in known]
            if not new:
                return
            with self._path.open("a") as journal:
                journal.write("".join(f"{image_id}\n" for image_id in new))
                journal.flush()
                os.fsync(journal.fileno())

    def discard(self, image_ids: set[str]) -> None:
        """Rewrite the journal without `image_ids`, atomically (what was added meanwhile stays)."""
        with self._locked():
            kept = [line for line in self._lines() if line not in image_ids]
            temporary = self._path.with_name(self._path.name + ".tmp")
            with temporary.open("w") as journal:
                journal.write("".join(f"{line}\n" for line in kept))
                journal.flush()
                os.fsync(journal.fileno())
            os.replace(temporary, self._path)


# -- pure helpers -------------------------------------------------------------------------


def _explain(exc: docker.errors.APIError) -> str:
    return str(exc.explanation or exc)


def _inspect_image(api: docker.APIClient, reference: str) -> dict[str, Any]:
    attrs: dict[str, Any] = api.inspect_image(reference)  # type: ignore[no-untyped-call]  # untyped in types-docker
    return attrs


def _removal_in_progress(exc: docker.errors.APIError) -> bool:
    return exc.status_code == 409 and "already in progress" in _explain(exc)


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


def _exposed_tcp_ports(image: dict[str, Any]) -> tuple[int, ...]:
    """The TCP ports of the image's EXPOSE instructions, ascending."""
    exposed = (image.get("Config") or {}).get("ExposedPorts") or {}
    ports = set()
    for key in exposed:
        port, _, protocol = key.partition("/")
        if protocol in ("tcp", "") and port.isdigit():
            ports.add(int(port))
    return tuple(sorted(ports))


def _full_image_id(image_id: str) -> str:
    return image_id if image_id.startswith("sha256:") else f"sha256:{image_id}"


def _remove_image(api: docker.APIClient, image: dict[str, Any]) -> bool:
    """Untag (then delete) one image without force; False when Docker refuses (in use)."""
    tags = [tag for tag in image.get("RepoTags") or [] if tag != "<none>:<none>"]
    try:
        for reference in tags or [image["Id"]]:
            api.remove_image(reference)
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as exc:
        if exc.status_code == 409:
            return False
        raise
    return True


def _resolve_image(api: docker.APIClient, reference: str) -> str | None:
    """The full id of `reference`, None when there is no such image."""
    try:
        return str(_inspect_image(api, reference)["Id"])
    except docker.errors.NotFound:
        return None


def _ancestry(api: docker.APIClient, image_id: str, wanted: set[str]) -> set[str]:
    """Those of `wanted` that are `image_id` or its parents (the classic builder's parent chain)."""
    found: set[str] = set()
    current = image_id
    for _ in range(MAX_ANCESTRY):
        if current in wanted:
            found.add(current)
        if not current or found == wanted:
            break
        current = str(_inspect_image(api, current).get("Parent") or "")
    return found


def _remove_layer(api: docker.APIClient, layer: str) -> tuple[Literal["removed", "gone", "kept"], str]:
    """Remove one journalled layer if it is dangling; without force and keeping its parents.

    "kept" when it stays: tagged, or Docker refused (a child image or a container uses it).
    """
    try:
        image = _inspect_image(api, layer)
    except docker.errors.NotFound:
        return "gone", layer
    image_id = str(image["Id"])
    if any(tag != "<none>:<none>" for tag in image.get("RepoTags") or []):
        return "kept", image_id
    try:
        api.remove_image(image_id, noprune=True)
    except docker.errors.NotFound:
        return "gone", image_id
    except docker.errors.APIError as exc:
        if exc.status_code == 409:
            return "kept", image_id
        raise
    return "removed", image_id


def _ensure_network(api: docker.APIClient, name: str) -> str:
    """The id of the bridge network `name`, created (labelled as Dockyard's) when missing.

    Engine 20.10's duplicate check is not atomic: concurrent creates can give two networks
    one name, after which attaching by name fails as "ambiguous". So creation is serialised
    in this process, and should another process still make a namesake, every caller settles
    on the same one (the smallest id), attaches by id and removes the unused others.
    """
    with _NETWORK_CREATION:
        networks = _networks_named(api, name)
        if not networks:
            try:
                api.create_network(
                    name, driver="bridge", labels={LABEL_MANAGED: "true"}, check_duplicate=True
                )
            except docker.errors.APIError as exc:
                if exc.status_code != 409:
                    raise
            networks = _networks_named(api, name)
    if not networks:
        raise NotFound(f"network {name} vanished while it was being created")
    chosen, *others = sorted(networks, key=lambda network: str(network["Id"]))
    for other in others:
        if (other.get("Labels") or {}).get(LABEL_MANAGED) == "true":
            with suppress(docker.errors.APIError):
                api.remove_network(other["Id"])
    return str(chosen["Id"])


def _networks_named(api: docker.APIClient, name: str) -> list[dict[str, Any]]:
    # The engine's name filter matches substrings, so compare exactly.
    return [network for network in api.networks(names=[name]) if network["Name"] == name]


def _int_label(labels: dict[str, str], key: str) -> int:
    value = labels.get(key, "")
    return int(value) if value.isdigit() else 0


def _address(networks: dict[str, Any], preferred: str) -> str | None:
    """The IPv4 address on `preferred`, else on any network, else None."""
    if preferred in networks:
        return (networks[preferred] or {}).get("IPAddress") or None
    for settings in networks.values():
        if (settings or {}).get("IPAddress"):
            return str(settings["IPAddress"])
    return None


def _info_from_inspect(attrs: dict[str, Any], network: str) -> ContainerInfo:
    labels: dict[str, str] = attrs["Config"].get("Labels") or {}
    state = attrs["State"]
    return ContainerInfo(
        id=attrs["Id"],
        name=attrs["Name"].lstrip("/"),
        app=labels.get(LABEL_APP, ""),
        release=_int_label(labels, LABEL_RELEASE),
        process=labels.get(LABEL_PROCESS, ""),
        address=_address(attrs["NetworkSettings"].get("Networks") or {}, network),
        state=state["Status"],
        health=(state.get("Health") or {}).get("Status"),
        restart_count=int(attrs.get("RestartCount") or 0),
        exit_code=None if state["Status"] in ("running", "created") else int(state.get("ExitCode") or 0),
        started_at=_docker_time(state.get("StartedAt")),
    )


def _docker_time(value: str | None) -> datetime | None:
    """Docker's RFC 3339 times (nanoseconds are cut to micro); the zero time means never."""
    if not value or value.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        return None


_TCP_LISTEN = "0A"


def parse_proc_net_listeners(text: str) -> list[tuple[str, int]]:
    """The listening (address, port) pairs of a /proc/net/tcp or tcp6 table."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[3] != _TCP_LISTEN or ":" not in fields[1]:
            continue
        address_hex, _, port_hex = fields[1].partition(":")
        try:
            port = int(port_hex, 16)
            raw = bytes.fromhex(address_hex)
        except ValueError:
            continue
        found.append((_proc_address(raw), port))
    return found


def _proc_address(raw: bytes) -> str:
    """/proc/net/tcp{,6} print each 32-bit word of the address in host (little-endian) order."""
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    if len(words) == 4:
        return socket.inet_ntop(socket.AF_INET, words)
    if words[:12] == b"\0" * 10 + b"\xff\xff":
        return socket.inet_ntop(socket.AF_INET, words[12:])
    return socket.inet_ntop(socket.AF_INET6, words)


def _info_from_summary(summary: dict[str, Any], network: str) -> ContainerInfo:
    """ContainerInfo from a list entry; its health is only in the Status text."""
    labels: dict[str, str] = summary.get("Labels") or {}
    health = _HEALTH_IN_STATUS.search(summary.get("Status") or "")
    names = summary.get("Names") or [""]
    return ContainerInfo(
        id=summary["Id"],
        name=names[0].lstrip("/"),
        app=labels.get(LABEL_APP, ""),
        release=_int_label(labels, LABEL_RELEASE),
        process=labels.get(LABEL_PROCESS, ""),
        address=_address((summary.get("NetworkSettings") or {}).get("Networks") or {}, network),
        state=summary["State"],
        health=health.group(1).removeprefix("health: ") if health else None,
    )


# -- merged log streams ------------------------------------------------------------------


@dataclass(frozen=True)
class _StreamEnded:
    name: str


def _close_streams(streams: "Sequence[tuple[str, CancellableStream[bytes]]]") -> None:
    for _, stream in streams:
        with suppress(Exception):
            stream.close()


class MergedLogs:
    """Several containers' output as one stream of `name | line` strings.

    One reader thread per container feeds a bounded queue. Read it either as a blocking
    iterator, or without blocking with `take` (an async consumer sets `on_ready`, called
    from a reader thread when lines arrive in an empty queue). `close` stops the readers
    and their streams without waiting.
    """

    def __init__(self, streams: "list[tuple[str, CancellableStream[bytes]]]") -> None:
        self._streams = streams
        self._lines: queue.Queue[str | _StreamEnded] = queue.Queue(maxsize=LOG_QUEUE_LINES)
        self._stop = threading.Event()
        self._running = len(streams)
        self.on_ready: Callable[[], None] = lambda: None
        self._readers = [
            threading.Thread(target=self._pump, args=(name, stream), name=f"logs-{name}", daemon=True)
            for name, stream in streams
        ]
        for reader in self._readers:
            reader.start()

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        while self._running:
            item = self._lines.get()
            if isinstance(item, _StreamEnded):
                self._running -= 1
            else:
                return item
        self.close()
        raise StopIteration

    def take(self, limit: int) -> tuple[list[str], bool]:
        """Up to `limit` lines ready now, and whether every stream has ended (and all was taken)."""
        taken: list[str] = []
        while self._running and len(taken) < limit:
            try:
                item = self._lines.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _StreamEnded):
                self._running -= 1
            else:
                taken.append(item)
        return taken, not self._running

    def close(self, *, wait: bool = True) -> None:
        """Stop the readers and close the streams; with `wait`, until the readers have exited."""
        self._stop.set()
        _close_streams(self._streams)
        if wait:
            for reader in self._readers:
                reader.join(timeout=WATCHDOG_INTERVAL_SECONDS * 5)

    def _pump(self, name: str, stream: "CancellableStream[bytes]") -> None:
        _pump_lines(name, stream, self._offer)

    def _offer(self, item: "str | _StreamEnded") -> bool:
        """Put `item`, waiting for room while the consumer is alive; False once it stopped."""
        while not self._stop.is_set():
            was_empty = self._lines.empty()
            try:
                self._lines.put(item, timeout=WATCHDOG_INTERVAL_SECONDS)
            except queue.Full:
                continue
            if was_empty:
                self.on_ready()
            return True
        return False


def _pump_lines(
    name: str, stream: "CancellableStream[bytes]", offer: "Callable[[str | _StreamEnded], bool]"
) -> None:
    """Split one container's output into prefixed lines until it ends or `offer` refuses."""
    pending = b""
    try:
        for chunk in stream:
            pending += chunk
            *complete, pending = pending.split(b"\n")
            if len(pending) > LOG_LINE_MAX_BYTES:
                complete.append(pending)
                pending = b""
            for raw in complete:
                if not offer(_prefixed(name, raw)):
                    return
        if pending:
            offer(_prefixed(name, pending))
    finally:
        offer(_StreamEnded(name))


def _prefixed(name: str, raw: bytes) -> str:
    return name + LOG_LINE_SEPARATOR + raw.decode("utf-8", errors="replace").rstrip("\r")


def _close_when_stopped(
    events: "CancellableStream[Any]", ended: threading.Event, stop: threading.Event
) -> None:
    """Close an event stream when `stop` is set, or return once the stream ended by itself."""
    while not ended.wait(0.5):
        if stop.is_set():
            events.close()
            return
