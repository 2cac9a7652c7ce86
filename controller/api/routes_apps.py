"""Routes of apps and what hangs off one app: domains, config, releases, scale, logs."""

import asyncio
from functools import partial

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from controller.api.deps import ServicesDep, require_token
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
from controller.domain.errors import InvalidInput
from controller.domain.models import HEALTH_CHECK_USER_AGENT
from controller.domain.names import (
    validate_app_name,
    validate_env_key,
    validate_env_value,
    validate_process_count,
)

router = APIRouter(prefix="/api/v1/apps", tags=["apps"], dependencies=[Depends(require_token)])


@router.get("", response_model=list[AppPublic])
def list_apps(services: ServicesDep) -> list[AppPublic]:
    return [AppPublic.of(app) for app in services.apps.all()]


@router.post("", response_model=AppPublic, status_code=status.HTTP_201_CREATED)
def create_app(body: AppCreate, services: ServicesDep) -> AppPublic:
    return AppPublic.of(services.apps.create(body.name))


@router.get("/{name}", response_model=AppDetailsPublic)
def app_info(name: str, services: ServicesDep) -> AppDetailsPublic:
    return AppDetailsPublic.of_details(services.apps.details(name))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def destroy_app(name: str, services: ServicesDep) -> None:
    services.apps.destroy(name)


@router.get("/{name}/ps", response_model=ProcessesPublic)
def app_processes(name: str, services: ServicesDep) -> ProcessesPublic:
    """The app's containers (state, health, restarts, last exit code, uptime) and recent crashes."""
    return ProcessesPublic.of(services.apps.details(name))


@router.get("/{name}/stats", response_model=AppStatsPublic)
def app_stats(name: str, services: ServicesDep) -> AppStatsPublic:
    """Each container's CPU %, memory and restarts, and the requests and 5xx per second that
    nginx answered for the app over the last minute. CPU % is measured since the previous
    request of the stats (null on the first one): poll this every few seconds."""
    return AppStatsPublic.of(services.stats.of(name))


@router.get("/{name}/domains", response_model=list[DomainPublic])
def list_domains(name: str, services: ServicesDep) -> list[DomainPublic]:
    """The app's domains with their URL and the state of their certificate."""
    report = services.certificates.report(name)
    app = services.apps.get(name)
    urls = dict(zip(app.domains, services.apps.urls(app.name), strict=True))
    statuses = dict(report.domains)
    items = []
    for domain in app.domains:
        record = statuses.get(domain)
        if domain in report.served:
            state = "valid"
        elif record is not None and record.last_error:
            state = "failing"
        else:
            state = "pending" if report.acme_enabled else "none"
        items.append(
            DomainPublic(
                domain=domain,
                url=urls.get(domain, f"http://{domain}"),
                certificate=state,
                valid_until=record.valid_until if record is not None else None,
                last_error=record.last_error if record is not None else None,
            )
        )
    return items


@router.post("/{name}/domains", response_model=AppPublic, status_code=status.HTTP_201_CREATED)
def add_domain(name: str, body: DomainCreate, services: ServicesDep) -> AppPublic:
    return AppPublic.of(services.apps.add_domain(name, body.domain))


@router.delete("/{name}/domains/{domain}", response_model=AppPublic)
def remove_domain(name: str, domain: str, services: ServicesDep) -> AppPublic:
    return AppPublic.of(services.apps.remove_domain(name, domain))


@router.get("/{name}/config", response_model=dict[str, str])
def show_config(name: str, services: ServicesDep, reveal: bool = False) -> dict[str, str]:
    return services.apps.config(name, reveal=reveal)


@router.patch("/{name}/config", response_model=DeployPublic, status_code=status.HTTP_202_ACCEPTED)
async def update_config(name: str, body: ConfigUpdate, services: ServicesDep) -> DeployPublic:
    """Queue a config change (a new release when the app has one); answered once it is stored."""
    for key, value in body.set.items():
        validate_env_key(key)
        validate_env_value(key, value)
    for key in body.unset:
        validate_env_key(key)
    if not body.set and not body.unset:
        raise InvalidInput("nothing to change: give KEY=VALUE pairs to set or keys to unset")
    validate_app_name(name)  # storing the job checks that the app exists
    stored = services.deploys.submit_config_change(name, set_=body.set, unset=body.unset)
    return DeployPublic.of(await asyncio.wrap_future(stored))


@router.get("/{name}/releases", response_model=list[ReleasePublic])
def list_releases(name: str, services: ServicesDep) -> list[ReleasePublic]:
    current = services.apps.get(name).current_release
    return [
        ReleasePublic.of(view.release, current=current, image_available=view.image_available)
        for view in services.apps.releases(name)
    ]


@router.post("/{name}/rollback", response_model=DeployPublic, status_code=status.HTTP_202_ACCEPTED)
def rollback(name: str, body: RollbackRequest, services: ServicesDep) -> DeployPublic:
    services.apps.get(name)
    return DeployPublic.of(services.deploys.request_rollback(name, to=body.to))


@router.post("/{name}/scale", response_model=DeployPublic, status_code=status.HTTP_202_ACCEPTED)
def scale(name: str, body: ScaleRequest, services: ServicesDep) -> DeployPublic:
    services.apps.get(name)
    web = validate_process_count("web", body.web)
    return DeployPublic.of(services.deploys.request_scale(name, web=web))


@router.post("/{name}/restart", response_model=DeployPublic, status_code=status.HTTP_202_ACCEPTED)
def restart(name: str, services: ServicesDep) -> DeployPublic:
    services.apps.get(name)
    return DeployPublic.of(services.deploys.request_restart(name))


@router.get("/{name}/logs", responses={429: {"description": "too many streams of this app"}})
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
