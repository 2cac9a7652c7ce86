"""Dockyard's core records: apps, releases, deploys, health checks and the proxy's view."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class DeployStatus(StrEnum):
    """Where a deploy job is; all but queued and running are final."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"
    INTERRUPTED = "interrupted"

    @property
    def is_final(self) -> bool:
        return self not in (DeployStatus.QUEUED, DeployStatus.RUNNING)


class DeployKind(StrEnum):
    """What a job does; all but certificate work go through the same zero-downtime rollout."""

    BUILD = "build"
    ROLLBACK = "rollback"
    CONFIG = "config"
    SCALE = "scale"
    RESTART = "restart"
    REPAIR = "repair"
    CERTIFICATE = "certificate"


# The User-Agent of Dockyard's own health-check requests, so `dockyard logs` can leave them out.
HEALTH_CHECK_USER_AGENT = "dockyard-healthcheck"


@dataclass(frozen=True)
class HealthCheck:
    """One HTTP check of a new container, in the app.json `healthchecks.web` shape."""

    path: str = "/"
    attempts: int = 30
    timeout: float = 5.0
    wait: float = 0.2
    initial_delay: float = 0.0
    name: str = "default"


@dataclass(frozen=True)
class App:
    """An app as stored: its name, domains, scale and the release that serves it."""

    name: str
    created_at: datetime
    domains: tuple[str, ...] = ()
    web_scale: int = 1
    current_release: int | None = None


@dataclass(frozen=True)
class Release:
    """An immutable deployable unit: an image plus the config it runs with."""

    app: str
    number: int
    image_id: str
    source_digest: str
    config: dict[str, str]
    port: int
    healthchecks: tuple[HealthCheck, ...]
    created_at: datetime
    deploy_id: str
    description: str = ""


@dataclass(frozen=True)
class Deploy:
    """A request to change what an app runs, and what became of it."""

    id: str
    app: str
    kind: DeployKind
    status: DeployStatus
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    release_number: int | None = None
    error: str | None = None
    description: str = ""
    attempt: int = 1


@dataclass(frozen=True)
class ContainerInfo:
    """A running (or exited) container of Dockyard's, as the runtime reports it."""

    id: str
    name: str
    app: str
    release: int
    process: str
    address: str | None
    state: str
    health: str | None = None
    restart_count: int = 0  # times Docker's restart policy restarted it (inspect only)
    exit_code: int | None = None  # of its last exit, while it is not running (inspect only)
    started_at: datetime | None = None  # of its current run (inspect only)


@dataclass(frozen=True)
class ContainerExit:
    """A container of Dockyard's stopped; `crashed` when nobody stopped it (Docker restarts it)."""

    app: str
    release: int
    process: str
    container: str  # its name
    exit_code: int
    at: datetime
    crashed: bool


@dataclass(frozen=True)
class SiteTls:
    """An app's certificate as the proxy serves it over HTTPS."""

    cert_path: str
    key_path: str
    domains: tuple[str, ...]  # the site's domains the certificate covers
    redirect: bool = True  # HTTP -> HTTPS for those domains (never the ACME challenge path)


@dataclass(frozen=True)
class Site:
    """What the proxy needs to route one app: its names, its backends and its certificate."""

    app: str
    domains: tuple[str, ...]
    backends: tuple[str, ...] = field(default_factory=tuple)
    tls: SiteTls | None = None


def config_after(previous: dict[str, str], *, set_: dict[str, str], unset: Sequence[str]) -> dict[str, str]:
    """An app's config once `unset` keys are removed and `set_` applied (set wins over unset)."""
    kept = {key: value for key, value in previous.items() if key not in unset}
    return kept | set_
