"""The Protocols ("ports") the services need from the outside world; adapters implement them."""

import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Protocol

from controller.domain.account_records import AuditEvent
from controller.domain.containers import ContainerSpec
from controller.domain.errors import DockyardError
from controller.domain.git_records import WebhookDelivery
from controller.domain.models import App, ContainerExit, ContainerInfo, Deploy, DeployStatus, Release, Site
from controller.services.account_ports import AccountStore
from controller.services.git_ports import GitStore


class LogSink(Protocol):
    """Where a job's progress goes, one line (no newline) at a time: a deploy log, a CLI's output."""

    def __call__(self, line: str, /) -> None: ...


class Store(GitStore, AccountStore, Protocol):
    """Durable state: apps, domains, encrypted config, releases and deploys (and the git side)."""

    def create_app(self, name: str) -> App:
        """Raises Conflict when the name exists."""

    def get_app(self, name: str) -> App:
        """Raises NotFound."""

    def list_apps(self) -> list[App]: ...

    def delete_app(self, name: str) -> None:
        """Deletes the app and everything it owns (domains, config, releases, deploys)."""

    def set_web_scale(self, name: str, count: int) -> None: ...

    def set_current_release(self, name: str, number: int | None) -> None: ...

    def add_domain(self, app: str, domain: str) -> None:
        """Raises Conflict when any app (this one included) already has the domain."""

    def remove_domain(self, app: str, domain: str) -> None:
        """Raises NotFound when the app does not have the domain."""

    def get_config(self, app: str) -> dict[str, str]: ...

    def update_config(self, app: str, *, set_: dict[str, str], unset: Sequence[str]) -> dict[str, str]:
        """Applies both in one transaction; returns the new config."""

    def next_release_number(self, app: str) -> int: ...

    def add_release(self, release: Release) -> None: ...

    def get_release(self, app: str, number: int) -> Release:
        """Raises NotFound."""

    def list_releases(self, app: str) -> list[Release]:
        """Newest first."""

    def create_deploys(
        self,
        items: Sequence[tuple[Deploy, dict[str, Any]]],
        *,
        deliveries: Sequence[WebhookDelivery | None] = (),
        audits: Sequence[AuditEvent | None] = (),
    ) -> list[DockyardError | None]:
        """Stores a batch in one transaction, each deploy with (encrypted) what its job needs to
        run or run again, the webhook delivery that asked for it and the audit event of the
        request that did (each one per item, or none; an item's event is stored only with its
        deploy); each item's error (NotFound, Conflict, DeliveryReceived for a delivery
        recorded before: that deploy is not stored) or None."""

    def get_deploy_params(self, deploy_id: str) -> dict[str, Any]: ...

    def queued_deploys(self, limit: int | None = None, *, app: str | None = None) -> list[Deploy]:
        """Oldest first; only `app`'s when given; only the first `limit` when given."""

    def queued_apps(self) -> dict[str, datetime]:
        """Each app with queued deploys -> when its oldest one was queued."""

    def claim_next(self, app: str, *, builds: bool = True) -> tuple[Deploy, dict[str, Any]] | None:
        """The app's oldest queued deploy, now running, with its params; None when there is
        none (or, with `builds` False, when it is a build)."""

    def claim_deploy(
        self, deploy_id: str, status: DeployStatus = DeployStatus.RUNNING, *, error: str | None = None
    ) -> bool:
        """Queued -> `status` atomically (running, cancelled, superseded); False if not queued."""

    def claim_deploys(
        self, deploy_ids: Sequence[str], status: DeployStatus, *, error: str | None = None
    ) -> list[str]:
        """Queued -> `status` for many at once (one transaction); the ids that were queued."""

    def set_serving(self, app: str, container_ids: Sequence[str]) -> None:
        """Records which containers the proxy routes the app to."""

    def get_serving(self, app: str) -> list[str] | None:
        """None when never recorded."""

    def get_deploy(self, deploy_id: str) -> Deploy:
        """Raises NotFound."""

    def update_deploy(
        self,
        deploy_id: str,
        *,
        status: DeployStatus | None = None,
        release_number: int | None = None,
        error: str | None = None,
    ) -> Deploy:
        """Sets started_at on RUNNING and finished_at on a final status."""

    def list_deploys(self, app: str | None = None, limit: int = 50) -> list[Deploy]:
        """Newest first."""

    def last_deploys(self) -> dict[str, Deploy]:
        """Each app's newest deploy, by app name (apps with none are left out); one query."""

    def unfinished_deploys(self) -> list[Deploy]:
        """Deploys still queued or running (after a crash these were interrupted)."""


class LogLines(Protocol):
    """Lines arriving from elsewhere (container output): iterate (blocking) or `take` (not)."""

    on_ready: Callable[[], None]  # called from another thread when lines arrive after a lull

    def __iter__(self) -> Iterator[str]: ...

    def __next__(self) -> str: ...

    def take(self, limit: int) -> tuple[list[str], bool]:
        """Up to `limit` lines ready now, and whether the lines have ended (all taken)."""

    def close(self, *, wait: bool = True) -> None: ...


class DeployLogStore(Protocol):
    """Persisted deploy logs, one text line at a time, read back from a cursor."""

    def append(self, deploy_id: str, line: str) -> None: ...

    def size(self, deploy_id: str) -> int:
        """The cursor at the end of the log."""

    def read_from(self, deploy_id: str, cursor: int) -> tuple[list[str], int]:
        """A bounded chunk of whole lines from `cursor`, and the cursor after them."""

    def read(self, deploy_id: str) -> list[str]: ...

    def delete(self, deploy_id: str) -> None: ...


@dataclass(frozen=True)
class BuiltImage:
    """The result of a successful build."""

    id: str
    exposed_ports: tuple[int, ...]


@dataclass(frozen=True)
class ContainerUsage:
    """A running container's resource use; None where the engine could not tell (yet)."""

    cpu_percent: float | None  # since the previous sample; 100 = one CPU busy
    memory_used: int | None  # bytes, without the page cache
    memory_limit: int | None  # bytes: the container's limit, else the host's memory


@dataclass(frozen=True)
class Traffic:
    """Requests the proxy answered for an app within the last `window` seconds."""

    requests: int
    errors: int  # answers with a 5xx status
    window: float


class Runtime(Protocol):
    """The container engine. Every call raises RuntimeUnavailable when Docker is down."""

    def ping(self) -> None: ...

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
        """Streams build output to on_log; raises BuildFailed with the build's error."""

    def image_exposed_ports(self, image_id: str) -> tuple[int, ...]:
        """Raises NotFound when the image is gone."""

    def present_images(self, app: str, image_ids: Collection[str]) -> set[str]:
        """Those of `image_ids` (as given) that Docker still has among this instance's images of `app`."""

    def run_container(self, spec: ContainerSpec) -> ContainerInfo:
        """Creates the network if missing, starts the container, returns it with its address."""

    def inspect_container(self, container_id: str) -> ContainerInfo:
        """Raises NotFound when the container is gone."""

    def container_logs(self, container_id: str, *, tail: int = 50) -> str: ...

    def follow_logs(
        self, container_ids: Sequence[str], *, tail: int, follow: bool, timestamps: bool = False
    ) -> "LogLines":
        """Lines of the containers' output, prefixed with the container name."""

    def listening_ports(self, container_id: str) -> list[tuple[str, int]]:
        """The TCP (address, port) pairs a running container listens on."""

    def remove_container(self, container_id: str, *, stop_timeout: float = 10) -> None:
        """Stops and removes; a missing container is not an error."""

    def container_usage(self, container_id: str) -> ContainerUsage:
        """One quick sample of a running container's CPU and memory; raises NotFound when gone."""

    def list_containers(self, app: str | None = None) -> list[ContainerInfo]:
        """Containers carrying this instance's labels (all states)."""

    def prune_images(self, app: str, keep_image_ids: set[str]) -> list[str]:
        """Removes this instance's images of `app` not in keep_image_ids; returns their ids."""

    def prune_foreign_app_images(self, apps: set[str]) -> list[str]:
        """Removes this instance's images of apps not in `apps`; returns their ids."""

    def prune_build_layers(self) -> list[str]:
        """Removes the dangling intermediate images this runtime's builds left; returns their ids.

        Only layers the runtime recorded itself are candidates, removed without force: one
        still used by an image or a container stays (and is tried again next time).
        """

    def disk_usage(self) -> dict[str, int]:
        """images, image_bytes, containers, container_bytes of this instance."""

    def watch_deaths(
        self,
        on_death: Callable[[ContainerExit], None],
        stop: threading.Event,
        *,
        on_start: Callable[[str], None] | None = None,
    ) -> None:
        """Blocks, calling on_death(exit) when one of this instance's containers dies, and
        on_start(id) when one starts (Docker gives a container that starts again the lowest
        free address of its network, not always its own)."""


class BuildContexts(Protocol):
    """The build contexts of builds: one directory per deploy (by id), under the builds dir."""

    def create(self, deploy_id: str) -> Path:
        """A new empty directory for the deploy's context; raises FileExistsError if it exists."""

    def renew(self, deploy_id: str) -> Path:
        """The deploy's directory, emptied (or created)."""

    def path(self, deploy_id: str) -> Path: ...

    def exists(self, deploy_id: str) -> bool: ...

    def move(self, deploy_id: str, to_deploy_id: str) -> None:
        """Hands a context over to another deploy (a retry)."""

    def discard(self, deploy_id: str) -> None:
        """Removes the deploy's context; a missing one is not an error."""

    def discard_all_except(self, deploy_ids: Collection[str]) -> None:
        """Removes every context but those of `deploy_ids`."""

    def unpack_archive(self, archive: IO[bytes], dest: Path, *, max_bytes: int) -> str:
        """Extracts an untrusted tar (gzipped or not) into the empty `dest`; returns its digest.

        Raises InvalidInput (or PayloadTooLarge) for an archive it refuses, leaving `dest` empty.
        """

    def has_dockerfile(self, context_dir: Path) -> bool: ...

    def read_app_json(self, context_dir: Path) -> str | None:
        """The text of the context's `app.json`, or None when it has none."""


class Prober(Protocol):
    """Makes the HTTP requests of health checks."""

    def http_status(self, url: str, *, timeout: float) -> int:
        """Returns the status code; raises OSError when no HTTP answer came."""


class Proxy(Protocol):
    """The reverse proxy in front of the apps (nginx by default)."""

    def ensure_running(self, sites: Sequence[Site] | None) -> None:
        """Starts the proxy, or adopts one already running from the same data dir, with `sites`.

        With None (the routes are unknown, e.g. Docker is down) the config on disk is kept.
        """

    def apply(self, sites: Sequence[Site]) -> None:
        """Renders, validates, swaps atomically and reloads; returns once old workers are gone.

        Raises ProxyConfigRejected (with the proxy's message) after restoring the previous
        config when the new one is refused.
        """

    def is_current(self, sites: Sequence[Site]) -> bool:
        """True when the proxy runs and its config is exactly what `sites` renders to."""

    def stop(self) -> None: ...

    def access_log(self, app: str, *, tail: int, follow: bool) -> Iterator[str]:
        """The last `tail` lines of the app's access log, then (with `follow`) new ones."""


class TrafficMeter(Protocol):
    """Counts the requests the proxy answered per app, from its access logs."""

    def traffic(self, app: str) -> Traffic:
        """The app's requests and 5xx answers within the meter's window, up to now."""
