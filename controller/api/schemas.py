"""Request and response bodies of the JSON API (AppCreate / AppPublic naming)."""

from datetime import datetime

from pydantic import BaseModel, Field

from controller.domain.models import App, ContainerExit, ContainerInfo, Deploy, Release
from controller.services.apps import AppDetails
from controller.services.stats import AppStats, ContainerStats

MAX_RELEASE_NUMBER = 2**31 - 1  # what every database stores as an integer


class AppCreate(BaseModel):
    name: str = Field(max_length=200)


class AppPublic(BaseModel):
    name: str
    domains: list[str]
    web_scale: int
    current_release: int | None
    created_at: datetime

    @classmethod
    def of(cls, app: App) -> "AppPublic":
        return cls(
            name=app.name,
            domains=list(app.domains),
            web_scale=app.web_scale,
            current_release=app.current_release,
            created_at=app.created_at,
        )


class ContainerPublic(BaseModel):
    id: str
    name: str
    release: int
    process: str
    address: str | None
    state: str
    health: str | None
    restarts: int = 0
    exit_code: int | None = None
    started_at: datetime | None = None

    @classmethod
    def of(cls, c: ContainerInfo) -> "ContainerPublic":
        return cls(
            id=c.id[:12],
            name=c.name,
            release=c.release,
            process=c.process,
            address=c.address,
            state=c.state,
            health=c.health,
            restarts=c.restart_count,
            exit_code=c.exit_code,
            started_at=c.started_at,
        )


class CrashPublic(BaseModel):
    container: str
    process: str
    release: int
    exit_code: int
    at: datetime

    @classmethod
    def of(cls, e: ContainerExit) -> "CrashPublic":
        return cls(
            container=e.container, process=e.process, release=e.release, exit_code=e.exit_code, at=e.at
        )


class ReleasePublic(BaseModel):
    number: int
    image_id: str
    source_digest: str
    config_keys: list[str]
    port: int
    healthchecks: int
    created_at: datetime
    deploy_id: str
    description: str
    current: bool = False
    image_available: bool | None = None  # false: the image was pruned (no rollback); null: unknown

    @classmethod
    def of(
        cls, release: Release, *, current: int | None = None, image_available: bool | None = None
    ) -> "ReleasePublic":
        return cls(
            number=release.number,
            image_id=release.image_id,
            source_digest=release.source_digest,
            config_keys=sorted(release.config),
            port=release.port,
            healthchecks=len(release.healthchecks),
            created_at=release.created_at,
            deploy_id=release.deploy_id,
            description=release.description,
            current=release.number == current,
            image_available=image_available,
        )


class AppDetailsPublic(AppPublic):
    status: str
    urls: list[str]
    release: ReleasePublic | None
    containers: list[ContainerPublic]
    crashes: list[CrashPublic] = Field(default_factory=list)

    @classmethod
    def of_details(cls, details: AppDetails) -> "AppDetailsPublic":
        base = AppPublic.of(details.app).model_dump()
        return cls(
            **base,
            status=details.status,
            urls=list(details.urls),
            release=ReleasePublic.of(details.release, current=details.app.current_release)
            if details.release
            else None,
            containers=[ContainerPublic.of(c) for c in details.containers],
            crashes=[CrashPublic.of(e) for e in details.crashes],
        )


class ProcessesPublic(BaseModel):
    """`dockyard ps APP`: the app's containers and its recent crashes."""

    app: str
    status: str
    web_scale: int
    current_release: int | None
    containers: list[ContainerPublic]
    crashes: list[CrashPublic]

    @classmethod
    def of(cls, details: AppDetails) -> "ProcessesPublic":
        return cls(
            app=details.app.name,
            status=details.status,
            web_scale=details.app.web_scale,
            current_release=details.app.current_release,
            containers=[ContainerPublic.of(c) for c in details.containers],
            crashes=[CrashPublic.of(e) for e in details.crashes],
        )


class ContainerStatsPublic(BaseModel):
    """One container's live figures; null where it does not run or the engine could not tell."""

    id: str
    name: str
    process: str
    release: int
    state: str
    restarts: int
    cpu_percent: float | None  # since the previous stats request; 100 = one CPU busy
    memory_used_bytes: int | None
    memory_limit_bytes: int | None

    @classmethod
    def of(cls, stats: ContainerStats) -> "ContainerStatsPublic":
        c, usage = stats.container, stats.usage
        return cls(
            id=c.id[:12],
            name=c.name,
            process=c.process,
            release=c.release,
            state=c.state,
            restarts=c.restart_count,
            cpu_percent=usage.cpu_percent,
            memory_used_bytes=usage.memory_used,
            memory_limit_bytes=usage.memory_limit,
        )


class AppStatsPublic(BaseModel):
    """`GET /apps/{name}/stats`: per container resource use, and the proxy's request rates."""

    app: str
    containers: list[ContainerStatsPublic]
    requests_per_second: float | None  # over the last `window_seconds`, from the access log
    errors_per_second: float | None  # 5xx answers, same window
    window_seconds: float | None

    @classmethod
    def of(cls, stats: AppStats) -> "AppStatsPublic":
        return cls(
            app=stats.app,
            containers=[ContainerStatsPublic.of(c) for c in stats.containers],
            requests_per_second=stats.requests_per_second,
            errors_per_second=stats.errors_per_second,
            window_seconds=stats.window_seconds,
        )


class DomainPublic(BaseModel):
    """`dockyard domains APP`: one domain, its URL and its certificate's state."""

    domain: str
    url: str
    certificate: str  # valid, pending, failing or none (ACME off)
    valid_until: datetime | None
    last_error: str | None


class DeployPublic(BaseModel):
    id: str
    app: str
    kind: str
    status: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    release_number: int | None
    error: str | None
    description: str

    @classmethod
    def of(cls, deploy: Deploy) -> "DeployPublic":
        return cls(
            id=deploy.id,
            app=deploy.app,
            kind=deploy.kind.value,
            status=deploy.status.value,
            created_at=deploy.created_at,
            started_at=deploy.started_at,
            finished_at=deploy.finished_at,
            release_number=deploy.release_number,
            error=deploy.error,
            description=deploy.description,
        )


class DomainCreate(BaseModel):
    domain: str = Field(max_length=300)


class ConfigUpdate(BaseModel):
    set: dict[str, str] = Field(default_factory=dict, max_length=500)
    unset: list[str] = Field(default_factory=list, max_length=500)


class ScaleRequest(BaseModel):
    web: int


class RollbackRequest(BaseModel):
    to: int | None = Field(default=None, ge=1, le=MAX_RELEASE_NUMBER)


class Health(BaseModel):
    status: str
    docker: bool
    version: str
    reconciled_at: datetime | None = None
