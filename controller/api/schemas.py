"""Request and response bodies of the JSON API (AppCreate / AppPublic naming)."""

from datetime import datetime

from pydantic import BaseModel, Field

from controller.domain.models import App, ContainerInfo, Deploy, Release
from controller.services.apps import AppDetails

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
        )


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
