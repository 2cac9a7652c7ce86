"""The `Runtime` port over the Docker Engine API (docker-py's low-level APIClient).

Every SDK or transport error is mapped to a domain error (see `errors`), so callers only
ever see `DockyardError` subclasses.
"""

import math
import threading
import time
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager, suppress
from pathlib import Path

import docker
import docker.errors
import docker.types
from docker.types import CancellableStream

from controller.adapters.docker import events, images
from controller.adapters.docker.build import WatchedBuild
from controller.adapters.docker.connection import DockerConnection
from controller.adapters.docker.errors import removal_in_progress
from controller.adapters.docker.inspection import (
    DOCKER_DNS,
    exposed_tcp_ports,
    info_from_inspect,
    info_from_summary,
    inspect_image,
    parse_proc_net_listeners,
)
from controller.adapters.docker.layers import LayerJournal, journal_build_layers, prune_journalled_layers
from controller.adapters.docker.logs import MergedLogs, close_streams
from controller.adapters.docker.networks import ensure_network
from controller.adapters.docker.stats import UsageSampler, supports_one_shot
from controller.domain.containers import LABEL_APP, LABEL_INSTANCE, LABEL_MANAGED, ContainerSpec
from controller.domain.errors import DeployCancelled, DockyardError
from controller.domain.models import ContainerExit, ContainerInfo
from controller.services.ports import BuiltImage, ContainerUsage, LogSink

ADDRESS_WAIT_SECONDS = 5.0
ADDRESS_POLL_SECONDS = 0.05


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
        self._layers = LayerJournal(build_layers) if build_layers is not None else None
        self._network = network
        self._connection = DockerConnection(base_url=base_url, timeout=timeout)
        self._usage = UsageSampler()

    def _api(self) -> docker.APIClient:
        return self._connection.api()

    def _docker_calls(self) -> AbstractContextManager[None]:
        return self._connection.calls()

    def _labels(self, app: str | None = None) -> list[str]:
        """The label filter of this instance's containers and images (of `app` if given)."""
        labels = [f"{LABEL_MANAGED}=true", f"{LABEL_INSTANCE}={self._instance}"]
        if app is not None:
            labels.append(f"{LABEL_APP}={app}")
        return labels

    # -- builds and images ------------------------------------------------------------

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
            builder = self._connection.new_client(version=api.api_version)
            build = WatchedBuild(builder, api, timeout=timeout, cancel=cancel)
            try:
                image_id = build.run(context_dir=context_dir, tag=tag, labels=labels, on_log=on_log)
            except BaseException:
                self._journal_layers(api, build.layers.new_layers, final_image=None)
                raise
            finally:
                builder.close()
            self._journal_layers(api, build.layers.new_layers, final_image=image_id)
            return BuiltImage(id=image_id, exposed_ports=exposed_tcp_ports(inspect_image(api, image_id)))

    def _journal_layers(self, api: docker.APIClient, layers: list[str], *, final_image: str | None) -> None:
        if self._layers is not None:
            journal_build_layers(self._layers, api, layers, final_image=final_image)

    def image_exposed_ports(self, image_id: str) -> tuple[int, ...]:
        with self._docker_calls():
            return exposed_tcp_ports(inspect_image(self._api(), image_id))

    def present_images(self, app: str, image_ids: Collection[str]) -> set[str]:
        """Those of `image_ids` that are still among this instance's images of `app` (one list call)."""
        with self._docker_calls():
            return images.present_images(self._api(), self._labels(app), image_ids)

    def prune_images(self, app: str, keep_image_ids: set[str]) -> list[str]:
        """Remove this instance's images of `app` that are neither kept nor used by a container."""
        with self._docker_calls():
            return images.prune_images(self._api(), self._labels(app), keep_image_ids)

    def prune_foreign_app_images(self, apps: set[str]) -> list[str]:
        """Remove this instance's images of apps that no longer exist (and no container uses)."""
        with self._docker_calls():
            return images.prune_foreign_app_images(self._api(), self._labels(), apps)

    def prune_build_layers(self) -> list[str]:
        """Remove the journalled build layers that are dangling and unused; return their ids.

        Only images this runtime saw its own builds create are candidates (see
        `layers.prune_journalled_layers`).
        """
        if self._layers is None:
            return []
        with self._docker_calls():
            return prune_journalled_layers(self._layers, self._api())

    def disk_usage(self) -> dict[str, int]:
        """Bytes and counts of what this instance owns in Docker: images and containers."""
        with self._docker_calls():
            return images.disk_usage(self._api(), self._labels())

    # -- containers -------------------------------------------------------------------

    def run_container(self, spec: ContainerSpec) -> ContainerInfo:
        """Create and start `spec` on its network, without published ports."""
        with self._docker_calls():
            api = self._api()
            network_id = ensure_network(api, spec.network)
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

    def _wait_for_address(self, api: docker.APIClient, container_id: str, network: str) -> ContainerInfo:
        """Reload until the container has an address on `network`, stopped, or time ran out."""
        deadline = time.monotonic() + ADDRESS_WAIT_SECONDS
        while True:
            info = info_from_inspect(api.inspect_container(container_id), network)
            if info.address or info.state not in ("created", "running") or time.monotonic() > deadline:
                return info
            time.sleep(ADDRESS_POLL_SECONDS)

    def inspect_container(self, container_id: str) -> ContainerInfo:
        with self._docker_calls():
            return info_from_inspect(self._api().inspect_container(container_id), self._network)

    def list_containers(self, app: str | None = None) -> list[ContainerInfo]:
        """This instance's containers in any state, from one list call (no per-container inspect)."""
        with self._docker_calls():
            summaries = self._api().containers(all=True, filters={"label": self._labels(app)})
            return [info_from_summary(summary, self._network) for summary in summaries]

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
                if not removal_in_progress(exc):
                    raise

    def container_usage(self, container_id: str) -> ContainerUsage:
        """CPU % (against this runtime's previous sample of the container) and memory in use.

        Asks for a one-shot sample where the engine supports it (API 1.41+): without it the
        engine waits for a second sample, 1-2 s per container.
        """
        with self._docker_calls():
            api = self._api()
            if supports_one_shot(api.api_version):
                stats = api.stats(container_id, stream=False, one_shot=True)
            else:
                stats = api.stats(container_id, stream=False)
        return self._usage.usage(container_id, stats)

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

    def watch_deaths(
        self,
        on_death: Callable[[ContainerExit], None],
        stop: threading.Event,
        *,
        on_start: Callable[[str], None] | None = None,
    ) -> None:
        """Call `on_death` whenever one of this instance's containers dies (and `on_start`
        with its id whenever one starts), until `stop`.

        Blocks; reconnects after Docker restarts (waiting a second between tries).
        """
        events.watch_deaths(
            self._connection,
            self._labels(),
            on_death,
            stop,
            inspect=self.inspect_container,
            on_start=on_start,
        )

    # -- logs -------------------------------------------------------------------------

    def container_logs(self, container_id: str, *, tail: int = 50) -> str:
        """The last `tail` lines of stdout and stderr."""
        with self._docker_calls():
            output: bytes = self._api().logs(container_id, stdout=True, stderr=True, tail=tail)
            return output.decode("utf-8", errors="replace")

    def follow_logs(
        self, container_ids: Sequence[str], *, tail: int, follow: bool, timestamps: bool = False
    ) -> MergedLogs:
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
            close_streams(streams)
            raise
        return MergedLogs(streams)
