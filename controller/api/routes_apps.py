"""Routes of apps and what hangs off one app: domains, config, releases, scale, logs."""

import asyncio
from functools import partial

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from controller.api.auth import AUDITED_STATUS, PrincipalDep, audit_fields, no_app, requires
from controller.api.deps import ServicesDep
from controller.api.follow import FollowersDep, FollowerSlot, stream_lines
from controller.api.schemas import (
    AppCreate,
    AppDetailsPublic,
    AppPublic,
    AppStatsPublic,
    ConfigUpdate,
    DeployPublic,
    DomainCreate,
    DomainPublic,
    ProcessesPublic,
    ReleasePublic,
    RollbackRequest,
    ScaleRequest,
)
from controller.domain.access import Action
from controller.domain.errors import InvalidInput
from controller.domain.models import HEALTH_CHECK_USER_AGENT
from controller.domain.names import (
    validate_app_name,
    validate_env_key,
    validate_env_value,
    validate_process_count,
)
from controller.services.audit import audit_event

router = APIRouter(prefix="/api/v1/apps", tags=["apps"])


@router.get("", response_model=list[AppPublic], dependencies=[requires(Action.READ, app=no_app)])
def list_apps(services: ServicesDep, principal: PrincipalDep) -> list[AppPublic]:
    return [AppPublic.model_validate(app) for app in services.apps.all() if principal.may_use(app.name)]


@router.post(
    "",
    response_model=AppPublic,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires(Action.ADMINISTER, app=no_app)],
)
def create_app(body: AppCreate, services: ServicesDep) -> AppPublic:
    return AppPublic.model_validate(services.apps.create(body.name))


@router.get("/{name}", response_model=AppDetailsPublic, dependencies=[requires(Action.READ)])
def app_info(name: str, services: ServicesDep) -> AppDetailsPublic:
    return AppDetailsPublic.model_validate(services.apps.details(name))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[requires(Action.ADMINISTER)])
def destroy_app(name: str, services: ServicesDep) -> None:
    services.apps.destroy(name)


@router.get("/{name}/ps", response_model=ProcessesPublic, dependencies=[requires(Action.READ)])
def app_processes(name: str, services: ServicesDep) -> ProcessesPublic:
    """The app's containers (state, health, restarts, last exit code, uptime) and recent crashes."""
    return ProcessesPublic.model_validate(services.apps.details(name))


@router.get("/{name}/stats", response_model=AppStatsPublic, dependencies=[requires(Action.READ)])
def app_stats(name: str, services: ServicesDep) -> AppStatsPublic:
    """Each container's CPU %, memory and restarts, and the requests and 5xx per second that
    nginx answered for the app over the last minute. CPU % is measured since the previous
    request of the stats (null on the first one): poll this every few seconds."""
    return AppStatsPublic.of(services.stats.of(name))


@router.get("/{name}/domains", response_model=list[DomainPublic], dependencies=[requires(Action.READ)])
def list_domains(name: str, services: ServicesDep) -> list[DomainPublic]:
    """The app's domains with their URL and the state of their certificate."""
    return [DomainPublic.of(domain) for domain in services.certificates.domains(name)]


@router.post(
    "/{name}/domains",
    response_model=AppPublic,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires(Action.OPERATE)],
)
def add_domain(name: str, body: DomainCreate, services: ServicesDep) -> AppPublic:
    return AppPublic.model_validate(services.apps.add_domain(name, body.domain))


@router.delete("/{name}/domains/{domain}", response_model=AppPublic, dependencies=[requires(Action.OPERATE)])
def remove_domain(name: str, domain: str, services: ServicesDep) -> AppPublic:
    return AppPublic.model_validate(services.apps.remove_domain(name, domain))


@router.get(
    "/{name}/config",
    response_model=dict[str, str],
    dependencies=[requires(Action.READ, reveal_needs=Action.OPERATE)],
)
def show_config(name: str, services: ServicesDep, reveal: bool = False) -> dict[str, str]:
    return services.apps.config(name, reveal=reveal)


@router.patch(
    "/{name}/config",
    response_model=DeployPublic,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[requires(Action.OPERATE)],
)
async def update_config(
    name: str, body: ConfigUpdate, services: ServicesDep, request: Request
) -> DeployPublic:
    """Queue a config change (a new release when the app has one); answered once it is stored.

    Its audit event is stored with the job, in one transaction, before the answer.
    """
    for key, value in body.set.items():
        validate_env_key(key)
        validate_env_value(key, value)
    for key in body.unset:
        validate_env_key(key)
    if not body.set and not body.unset:
        raise InvalidInput("nothing to change: give KEY=VALUE pairs to set or keys to unset")
    validate_app_name(name)  # storing the job checks that the app exists
    audit = audit_event(**audit_fields(request.scope, status.HTTP_202_ACCEPTED))
    stored = services.deploys.submit_config_change(name, set_=body.set, unset=body.unset, audit=audit)
    deploy = DeployPublic.model_validate(await asyncio.wrap_future(stored))
    setattr(request.state, AUDITED_STATUS, status.HTTP_202_ACCEPTED)
    return deploy


@router.get("/{name}/releases", response_model=list[ReleasePublic], dependencies=[requires(Action.READ)])
def list_releases(name: str, services: ServicesDep) -> list[ReleasePublic]:
    current = services.apps.get(name).current_release
    return [
        ReleasePublic.of(view.release, current=current, image_available=view.image_available)
        for view in services.apps.releases(name)
    ]


@router.post(
    "/{name}/rollback",
    response_model=DeployPublic,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[requires(Action.OPERATE)],
)
def rollback(name: str, body: RollbackRequest, services: ServicesDep) -> DeployPublic:
    services.apps.get(name)
    return DeployPublic.model_validate(services.deploys.request_rollback(name, to=body.to))


@router.post(
    "/{name}/scale",
    response_model=DeployPublic,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[requires(Action.OPERATE)],
)
def scale(name: str, body: ScaleRequest, services: ServicesDep) -> DeployPublic:
    services.apps.get(name)
    web = validate_process_count("web", body.web)
    return DeployPublic.model_validate(services.deploys.request_scale(name, web=web))


@router.post(
    "/{name}/restart",
    response_model=DeployPublic,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[requires(Action.OPERATE)],
)
def restart(name: str, services: ServicesDep) -> DeployPublic:
    services.apps.get(name)
    return DeployPublic.model_validate(services.deploys.request_restart(name))


@router.get(
    "/{name}/logs",
    responses={429: {"description": "too many streams of this app"}},
    dependencies=[requires(Action.READ)],
)
async def app_logs(
    name: str,
    services: ServicesDep,
    followers: FollowersDep,
    follow: bool = False,
    tail: int = Query(default=100, ge=0, le=10_000),
    timestamps: bool = False,
    proxy: bool = False,
) -> StreamingResponse:
    """The output of the app's web containers, newest `tail` lines first, then followed.

    Dockyard's own health-check requests (by their User-Agent) are left out. With `proxy`,
    the app's nginx access log instead; with `timestamps`, Docker's time of each line.
    """
    validate_app_name(name)
    if proxy:
        access = services.apps.access_log(name, tail=tail, follow=follow)
        # The access log is polled from a thread: a follow of it takes a follower slot too.
        proxy_slot = followers.acquire(name) if follow else FollowerSlot(lambda: None)
        return StreamingResponse(
            (line.encode() + b"\n" for line in access),
            media_type="text/plain",
            background=proxy_slot.background(),
        )

    slot = followers.acquire(name) if follow else FollowerSlot(lambda: None)
    try:
        lines = await run_in_threadpool(
            partial(services.apps.container_logs, name, tail=tail, follow=follow, timestamps=timestamps)
        )
    except BaseException:
        slot.release()
        raise
    return StreamingResponse(
        stream_lines(lines, slot, keep=lambda line: HEALTH_CHECK_USER_AGENT not in line),
        media_type="text/plain; charset=utf-8",
        background=slot.background(),
    )
