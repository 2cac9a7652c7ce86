"""Request and response bodies of the JSON API (AppCreate / AppPublic naming).

Response bodies are read from the domain's objects by attribute (`Model.model_validate(obj)`);
a field named differently from its source says where it comes from with a validation alias.
"""

from collections.abc import Collection
from datetime import datetime
from typing import Annotated, Self

from pydantic import AliasGenerator, AliasPath, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from controller.domain.models import Release
from controller.services.certificates import DomainCertificate
from controller.services.stats import AppStats, ContainerStats

MAX_RELEASE_NUMBER = 2**31 - 1  # what every database stores as an integer
SHORT_ID = 12  # characters of a container id shown, as `docker ps` shows them


class FromAttributes(BaseModel):
    """A response body read from a domain object's attributes."""

    model_config = ConfigDict(from_attributes=True)


def read_from(owner: str, fields: Collection[str]) -> AliasGenerator:
    """Validation aliases that read `fields` from the object's `owner` attribute, the rest from the object."""
    return AliasGenerator(
        validation_alias=lambda field: AliasPath(owner, field) if field in fields else field
    )


class AppCreate(BaseModel):
    name: str = Field(max_length=200)


class AppPublic(FromAttributes):
    name: str
    domains: list[str]
    web_scale: int
    current_release: int | None
    created_at: datetime


class ContainerPublic(FromAttributes):
    id: Annotated[str, BeforeValidator(lambda full_id: full_id[:SHORT_ID])]
    name: str
    release: int
    process: str
    address: str | None
    state: str
    health: str | None
    restarts: int = Field(default=0, validation_alias="restart_count")
    exit_code: int | None = None
    started_at: datetime | None = None


class CrashPublic(FromAttributes):
    container: str
    process: str
    release: int
    exit_code: int
    at: datetime


class ReleasePublic(FromAttributes):
    number: int
    image_id: str
    source_digest: str
    config_keys: Annotated[list[str], BeforeValidator(sorted)] = Field(validation_alias="config")
    port: int
    healthchecks: Annotated[int, BeforeValidator(len)]
    created_at: datetime
    deploy_id: str
    description: str
    current: bool = False
    image_available: bool | None = None  # false: the image was pruned (no rollback); null: unknown

    @classmethod
    def of(
        cls, release: Release, *, current: int | None = None, image_available: bool | None = None
    ) -> "ReleasePublic":
        """`release`, marked current when it is the app's `current` one, and whether its image is kept."""
        return cls.model_validate(release).model_copy(
            update={"current": release.number == current, "image_available": image_available}
        )


class AppDetailsPublic(AppPublic):
    # Read from an `AppDetails`: the app's own fields come from its `app` (no docstring: it
    # would change the OpenAPI document).
    model_config = ConfigDict(from_attributes=True, alias_generator=read_from("app", AppPublic.model_fields))

    status: str
    urls: list[str]
    release: ReleasePublic | None
    containers: list[ContainerPublic]
    crashes: list[CrashPublic] = Field(default_factory=list)

    @model_validator(mode="after")
    def _mark_current_release(self) -> Self:
        if self.release is not None:
            self.release.current = self.release.number == self.current_release
        return self


class ProcessesPublic(FromAttributes):
    """`dockyard ps APP`: the app's containers and its recent crashes."""

    app: str = Field(validation_alias=AliasPath("app", "name"))
    status: str
    web_scale: int = Field(validation_alias=AliasPath("app", "web_scale"))
    current_release: int | None = Field(validation_alias=AliasPath("app", "current_release"))
    containers: list[ContainerPublic]
    crashes: list[CrashPublic]


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

    @classmethod
    def of(cls, domain: DomainCertificate) -> "DomainPublic":
        return cls(
            domain=domain.domain,
            url=domain.url,
            certificate=domain.state,
            valid_until=domain.valid_until,
            last_error=domain.last_error,
        )


class DeployPublic(FromAttributes):
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
