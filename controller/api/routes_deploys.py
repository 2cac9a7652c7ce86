"""Routes of deploys: upload a build context, list and inspect deploys, follow their logs."""

from collections.abc import AsyncIterator

from fastapi import APIRouter, Header, Query, Request, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from controller.api.auth import PrincipalDep, deploy_app, no_app, requires
from controller.api.bodies import spool_limited
from controller.api.deps import ServicesDep
from controller.api.follow import FollowersDep, FollowerSlot, deploy_log_lines, event_stream
from controller.api.schemas import DeployPublic
from controller.domain.access import Action
from controller.domain.errors import InvalidInput
from controller.domain.names import validate_app_name

router = APIRouter(prefix="/api/v1", tags=["deploys"])


@router.post(
    "/apps/{name}/deploys",
    response_model=DeployPublic,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[requires(Action.OPERATE)],
    openapi_extra={
        "requestBody": {"content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}}}
    },
)
async def deploy_archive(name: str, request: Request, services: ServicesDep) -> DeployPublic:
    """Build and deploy a tar (optionally gzipped) of a directory that has a Dockerfile."""
    validate_app_name(name)
    await run_in_threadpool(services.apps.get, name)
    limit = services.settings.max_upload_mb * 1024 * 1024
    with await spool_limited(request, limit, directory=services.settings.builds_dir) as upload:
        if not upload.read(1):
            raise InvalidInput("the request body must be a tar archive of the build context")
        upload.seek(0)
        deploy = await run_in_threadpool(
            services.deploys.request_archive_build, name, archive=upload, max_bytes=limit * 4
        )
    return DeployPublic.model_validate(deploy)


@router.post(
    "/apps/{name}/redeploy",
    response_model=DeployPublic,
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"description": "the app has no source to build again"}},
    dependencies=[requires(Action.OPERATE)],
)
def redeploy(name: str, services: ServicesDep) -> DeployPublic:
    """Deploy now: build the app's current source again (the head of its source repository's
    branch, else of the deploy branch last pushed to it). An app deployed from an uploaded
    directory, or never deployed, has none: 409."""
    return DeployPublic.model_validate(services.git.redeploy.redeploy(name))


@router.get("/apps/{name}/deploys", response_model=list[DeployPublic], dependencies=[requires(Action.READ)])
def list_app_deploys(
    name: str, services: ServicesDep, limit: int = Query(default=20, ge=1, le=500)
) -> list[DeployPublic]:
    return [DeployPublic.model_validate(d) for d in services.history.of_app(name, limit=limit)]


@router.get("/deploys", response_model=list[DeployPublic], dependencies=[requires(Action.READ, app=no_app)])
def list_deploys(
    services: ServicesDep, principal: PrincipalDep, limit: int = Query(default=50, ge=1, le=500)
) -> list[DeployPublic]:
    deploys = services.history.recent(limit=limit)
    return [DeployPublic.model_validate(d) for d in deploys if principal.may_use(d.app)]


@router.post(
    "/deploys/{deploy_id}/cancel",
    response_model=DeployPublic,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[requires(Action.OPERATE, app=deploy_app)],
)
def cancel_deploy(deploy_id: str, services: ServicesDep) -> DeployPublic:
    """Cancel a queued deploy, or stop a running one before it switches traffic."""
    return DeployPublic.model_validate(services.deploys.cancel(deploy_id))


@router.get(
    "/events",
    responses={503: {"description": "too many open streams"}},
    dependencies=[requires(Action.READ, app=no_app)],
)
async def events(
    services: ServicesDep,
    principal: PrincipalDep,
    followers: FollowersDep,
    last_event_id: str | None = Header(default=None, max_length=64),
    after: str | None = Query(default=None, max_length=64, description="resume after this event id"),
) -> StreamingResponse:
    """Server-Sent Events: deploy, certificate and container changes as they happen.

    Every event has an `id:`. Reconnect with `Last-Event-ID` (browsers do it by themselves)
    or `?after=ID` to get exactly the events missed; when they cannot be replayed (the
    controller restarted, or too many passed) the stream starts with a `resync` event:
    refetch the state you show, then follow on.
    """
    return event_stream(services.events, followers, after=after or last_event_id, visible=principal.may_use)


@router.get(
    "/deploys/{deploy_id}", response_model=DeployPublic, dependencies=[requires(Action.READ, app=deploy_app)]
)
def get_deploy(deploy_id: str, services: ServicesDep) -> DeployPublic:
    return DeployPublic.model_validate(services.history.get(deploy_id))


@router.get(
    "/deploys/{deploy_id}/log",
    responses={429: {"description": "too many streams of this app"}},
    dependencies=[requires(Action.READ, app=deploy_app)],
)
async def deploy_log(
    deploy_id: str, services: ServicesDep, followers: FollowersDep, follow: bool = False
) -> StreamingResponse:
    """The deploy's log as text lines; with follow, stays open until the deploy ends.

    A long log keeps its head and its tail: a line in between says how much was left out.
    """
    deploy = await run_in_threadpool(services.history.get, deploy_id)
    slot = followers.acquire(deploy.app) if follow else FollowerSlot(lambda: None)

    async def lines() -> AsyncIterator[bytes]:
        try:
            async for batch in deploy_log_lines(services.logs, deploy_id, follow=follow):
                yield ("\n".join(batch) + "\n").encode()
        finally:
            slot.release()

    return StreamingResponse(lines(), media_type="text/plain; charset=utf-8", background=slot.background())
