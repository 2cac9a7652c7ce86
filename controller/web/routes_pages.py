"""GUI pages that only show things (readable with JavaScript off) and their live streams."""

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from controller.api.auth import deploy_app
from controller.api.deps import ServicesDep
from controller.api.follow import SSE_HEADERS, FollowersDep, deploy_log_lines, event_stream
from controller.domain.access import Action
from controller.domain.errors import NotFound
from controller.web.deps import PrincipalDep, current_session, needs, no_app
from controller.web.render import render
from controller.web.views import app_page, dashboard_row, dashboard_rows

router = APIRouter(include_in_schema=False, dependencies=[Depends(current_session)])


READ_ANY = Depends(needs(Action.READ, app=no_app))
READ_APP = Depends(needs(Action.READ))
READ_DEPLOY = Depends(needs(Action.READ, app=deploy_app))


@router.get("/", dependencies=[READ_ANY])
def dashboard(request: Request, services: ServicesDep, principal: PrincipalDep, q: str = "") -> HTMLResponse:
    rows = dashboard_rows(services, q, principal)
    return render(request, "dashboard.html", rows=rows, query=q, errors={}, form={})


@router.get("/partials/apps", dependencies=[READ_ANY])
def apps_table(request: Request, services: ServicesDep, principal: PrincipalDep, q: str = "") -> HTMLResponse:
    """The dashboard's table alone: what its filter box and live updates swap in."""
    return render(request, "partials/apps.html", rows=dashboard_rows(services, q, principal), query=q)


@router.get("/partials/apps/{name}/row", dependencies=[READ_APP])
def app_row(request: Request, name: str, services: ServicesDep) -> HTMLResponse:
    """One dashboard row, swapped in when an event names the app; empty once it is gone."""
    try:
        row = dashboard_row(services, name)
    except NotFound:
        return HTMLResponse("")
    return render(request, "partials/app_row.html", row=row)


@router.get("/apps/{name}", dependencies=[READ_APP])
def app_details(request: Request, name: str, services: ServicesDep) -> HTMLResponse:
    return render(request, "app.html", page=app_page(services, name), errors={}, form={})


@router.get("/deploys/{deploy_id}", dependencies=[READ_DEPLOY])
async def deploy_page(request: Request, deploy_id: str, services: ServicesDep) -> HTMLResponse:
    """The deploy and its stored log; a running deploy's page streams the rest (live.js)."""
    deploy = await run_in_threadpool(services.history.get, deploy_id)
    lines: list[str] = []
    async for batch in deploy_log_lines(services.logs, deploy_id, follow=False):
        lines.extend(batch)
    return render(request, "deploy.html", deploy=deploy, lines=lines)


def _sse(event: str, data: object, event_id: str | None = None) -> bytes:
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id else "")
    return (head + f"data: {json.dumps(data)}\n\n").encode()


@router.get("/live/events", dependencies=[READ_ANY])
async def live_events(
    request: Request, services: ServicesDep, followers: FollowersDep, principal: PrincipalDep
) -> StreamingResponse:
    """The controller's events for the open pages, each one telling a page to refresh; a
    principal limited to some apps hears only of those (as on the API's stream)."""
    return event_stream(
        services.events, followers, after=request.headers.get("last-event-id"), visible=principal.may_use
    )


@router.get("/live/deploys/{deploy_id}/log", dependencies=[READ_DEPLOY])
async def live_deploy_log(
    deploy_id: str, services: ServicesDep, followers: FollowersDep, after: int = 0
) -> StreamingResponse:
    """A deploy's log lines after the first `after` (those the page has), until it ends:
    one `line` event per line, then `end`."""
    deploy = await run_in_threadpool(services.history.get, deploy_id)
    slot = followers.acquire(deploy.app)

    async def stream() -> AsyncIterator[bytes]:
        try:
            skip = max(after, 0)
            async for batch in deploy_log_lines(services.logs, deploy_id, follow=True):
                fresh, skip = batch[skip:], max(skip - len(batch), 0)
                if fresh:
                    yield b"".join(_sse("line", line) for line in fresh)
            yield _sse("end", "")
        finally:
            slot.release()

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers=SSE_HEADERS, background=slot.background()
    )
