"""GUI pages that only show things (readable with JavaScript off) and their live streams."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from controller.api.deps import ServicesDep
from controller.api.follow import FollowersDep, event_stream
from controller.domain.access import Action
from controller.domain.errors import NotFound
from controller.web.deps import PrincipalDep, current_session, needs, no_app
from controller.web.render import render
from controller.web.views import app_page, dashboard_row, dashboard_rows

router = APIRouter(include_in_schema=False, dependencies=[Depends(current_session)])


READ_ANY = Depends(needs(Action.READ, app=no_app))
READ_APP = Depends(needs(Action.READ))


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


@router.get("/live/events", dependencies=[READ_ANY])
async def live_events(
    request: Request, services: ServicesDep, followers: FollowersDep, principal: PrincipalDep
) -> StreamingResponse:
    """The controller's events for the open pages, each one telling a page to refresh; a
    principal limited to some apps hears only of those (as on the API's stream)."""
    return event_stream(
        services.events, followers, after=request.headers.get("last-event-id"), visible=principal.may_use
    )
