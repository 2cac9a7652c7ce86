"""More of the app page: destroy (the name typed to confirm), Deploy now, container logs with
follow, config values and the webhook secret revealed on request, and live figures.

Each change is a POST with the session's CSRF token, calling the same service as the API;
pages and streams only read. A revealed secret is a POST too: it is asked for, recorded in
the audit trail like any POST, and never sits in a URL or the browser's history.
"""

import json
import re
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from controller.api.deps import ServicesDep
from controller.api.errors import http_status
from controller.api.follow import SSE_HEADERS, TAKE_LINES, FollowersDep, stream_lines
from controller.domain.access import Action
from controller.domain.errors import DockyardError, InvalidInput, NotFound
from controller.domain.models import HEALTH_CHECK_USER_AGENT
from controller.domain.names import validate_env_key
from controller.web.deps import FormDep, PrincipalDep, current_session, needs
from controller.web.render import error_page, render
from controller.web.routes_actions import AppForm
from controller.web.views import app_page
from controller.web.views_app import stats_view
from controller.wiring import Services

router = APIRouter(include_in_schema=False, dependencies=[Depends(current_session)])
# What each route needs of the session's principal on the app in its path, as the API's
# routes: reading (pages, logs, figures), operating (deploy now, a secret in clear), and
# administering (destroy).
READ = [Depends(needs(Action.READ))]
OPERATE = [Depends(needs(Action.OPERATE))]
ADMINISTER = [Depends(needs(Action.ADMINISTER))]

LOG_TAIL = 200  # lines a container logs page starts with
LOG_TAIL_MAX = 1000  # and at most (the page keeps a bounded number of lines)
DOWNLOAD_TAIL = 10_000  # lines a download (or a search) reads by default
DOWNLOAD_TAIL_MAX = 100_000  # and at most
SEARCH_MATCHES_MAX = 1000  # matching lines a search shows (the newest); a download has them all
SEARCH_QUERY_MAX = 200  # characters


def _sse(event: str, data: object) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _keep(line: str) -> bool:
    """Dockyard's own health checks are left out, as in the API's logs."""
    return HEALTH_CHECK_USER_AGENT not in line


def _apply(post: AppForm, control: str, change: Callable[[], object], then: str) -> Response:
    """`post.apply`, but on success to `then` instead of the app's page."""
    response = post.apply(control, change)
    if response.status_code == 303:
        return RedirectResponse(then, status_code=303)
    return response


# -- destroy and deploy now -------------------------------------------------------------------


@router.post("/apps/{name}/destroy", dependencies=ADMINISTER)
def destroy_app(request: Request, name: str, services: ServicesDep, form: FormDep) -> Response:
    """Destroy the app once its name is typed in `confirm` exactly; else nothing changes."""
    post = AppForm(request, services, name, form)

    def change() -> None:
        if form.get("confirm", "") != name:
            raise InvalidInput(f"Nothing was destroyed: type the app's name, {name}, exactly to confirm.")
        services.apps.destroy(name)

    return _apply(post, "destroy", change, then="/")


@router.post("/apps/{name}/redeploy", dependencies=OPERATE)
def deploy_now(
    request: Request, name: str, services: ServicesDep, form: FormDep, principal: PrincipalDep
) -> Response:
    """Build the app's current source again; its page then shows the build log live."""
    post = AppForm(request, services, name, form)
    return post.apply("redeploy", lambda: services.git.redeploy.redeploy(name, actor=principal.name))


# -- container logs ---------------------------------------------------------------------------


def _tail(value: str | None, *, least: int) -> int:
    """The `tail` a page or stream was asked for, within bounds (a page never answers a 422)."""
    if value is None or not value.strip().isdigit():
        return LOG_TAIL
    return min(max(int(value), least), LOG_TAIL_MAX)


def _tail_of(services: Services, name: str, tail: int) -> list[str]:
    lines = services.apps.container_logs(name, tail=tail, follow=False, timestamps=False)
    try:
        return [line for line in lines if _keep(line)][-tail:] if tail else []
    finally:
        lines.close()


def _many(value: str | None) -> int:
    """The number of lines a download or a search reads: 1..100,000, 10,000 unless asked."""
    if value is None or not value.strip().isdigit():
        return DOWNLOAD_TAIL
    return min(max(int(value), 1), DOWNLOAD_TAIL_MAX)


def _query_error(query: str) -> str | None:
    """Why a search text is refused (a plain text, not a pattern: nothing in it is special)."""
    if len(query) > SEARCH_QUERY_MAX:
        return f"Search for at most {SEARCH_QUERY_MAX} characters (this is {len(query)})."
    if any(ord(c) < 32 or ord(c) == 127 for c in query):
        return "Search for text without control characters (tabs, line breaks, …)."
    return None


@dataclass
class Search:
    """The lines containing `query` (case ignored) among the last `lines` read."""

    query: str
    lines: int
    count: int = 0  # every match
    matches: deque[str] = field(default_factory=lambda: deque(maxlen=SEARCH_MATCHES_MAX))

    @property
    def more(self) -> int:
        """Matches not shown (older than the newest SEARCH_MATCHES_MAX)."""
        return self.count - len(self.matches)


def _search(services: Services, name: str, search: Search) -> Search:
    wanted = search.query.casefold()
    lines = services.apps.container_logs(name, tail=search.lines, follow=False, timestamps=False)
    try:
        while True:
            batch, ended = lines.take(TAKE_LINES)
            for line in batch:
                if wanted in line.casefold() and _keep(line):
                    search.count += 1
                    search.matches.append(line)
            if ended:
                return search
            if not batch:
                # Docker's readers have not caught up yet: wait (on this thread) for the next line.
                try:
                    line = next(lines)
                except StopIteration:
                    return search
                if wanted in line.casefold() and _keep(line):
                    search.count += 1
                    search.matches.append(line)
    finally:
        lines.close()


@router.get("/apps/{name}/logs", dependencies=READ)
async def container_logs_page(
    request: Request,
    name: str,
    services: ServicesDep,
    tail: str | None = None,
    q: str | None = None,
    lines: str | None = None,
) -> HTMLResponse:
    """The last `tail` lines of the app's web containers (readable without JavaScript);
    app.js follows the rest from /live/apps/{name}/logs. With `q`, the lines containing it
    among the last `lines` (up to 100,000) instead, not followed: at most the newest 1,000."""
    app = await run_in_threadpool(services.apps.get, name)
    lines_wanted = _tail(tail, least=1)
    error = None
    shown: list[str] = []
    search: Search | None = None
    query = q or ""
    query_error = _query_error(query) if query else None
    try:
        if query and not query_error:
            search = await run_in_threadpool(_search, services, app.name, Search(query, _many(lines)))
        elif not query:
            shown = await run_in_threadpool(_tail_of, services, app.name, lines_wanted)
    except NotFound:
        raise
    except DockyardError as exc:
        error = str(exc)
    return render(
        request,
        "app_logs.html",
        status_code=400 if query_error else 200,
        app=app,
        lines=shown,
        tail=lines_wanted,
        error=error,
        search=search,
        query=query,
        query_error=query_error,
        search_lines=_many(lines),
        search_lines_max=DOWNLOAD_TAIL_MAX,
    )


def _file_name(app: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", app.lower()) + "-logs.txt"


@router.get("/apps/{name}/logs.txt", dependencies=READ)
async def download_container_logs(
    name: str,
    services: ServicesDep,
    followers: FollowersDep,
    tail: str | None = None,
) -> StreamingResponse:
    """The last `tail` lines (1..100,000, 10,000 unless asked) of each of the app's web
    containers as a text file, streamed as read (the page keeps a bounded number of lines;
    this is the rest). Takes a stream slot while it lasts, like following."""
    app = await run_in_threadpool(services.apps.get, name)
    slot = followers.acquire(app.name)
    try:
        lines = await run_in_threadpool(
            partial(services.apps.container_logs, app.name, tail=_many(tail), follow=False, timestamps=False)
        )
    except BaseException:
        slot.release()
        raise
    return StreamingResponse(
        stream_lines(lines, slot, keep=_keep),
        media_type="text/plain; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{_file_name(app.name)}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
        background=slot.background(),
    )


@router.get("/live/apps/{name}/logs", dependencies=READ)
async def live_container_logs(
    name: str,
    services: ServicesDep,
    followers: FollowersDep,
    tail: str | None = None,
) -> StreamingResponse:
    """The last `tail` lines of the app's web containers, then new ones as they come: one
    `lines` event per batch (a JSON list), then `end` when every container's output ended."""
    app = await run_in_threadpool(services.apps.get, name)
    slot = followers.acquire(app.name)
    try:
        lines = await run_in_threadpool(
            partial(
                services.apps.container_logs,
                app.name,
                tail=_tail(tail, least=0),
                follow=True,
                timestamps=False,
            )
        )
    except BaseException:
        slot.release()
        raise

    async def stream() -> AsyncIterator[bytes]:
        yield b": connected\n\n"
        async for chunk in stream_lines(lines, slot, keep=_keep):
            yield _sse("lines", chunk.decode("utf-8", errors="replace").splitlines())
        yield _sse("end", "")

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers=SSE_HEADERS, background=slot.background()
    )


# -- secrets revealed on request --------------------------------------------------------------


def _config_value(services: Services, name: str, key: str) -> str:
    key = validate_env_key(key)
    config = services.apps.config(name, reveal=True)
    if key not in config:
        raise NotFound(f"{name} has no config var {key} (any more); reload the page")
    return config[key]


@router.post("/apps/{name}/config/reveal", dependencies=OPERATE)
def reveal_config_value(request: Request, name: str, services: ServicesDep, form: FormDep) -> Response:
    """One config value in clear: in its place on the page (htmx), or the app page with it shown."""
    key = form.get("key", "").strip()
    if _is_htmx(request):
        try:
            value = _config_value(services, name, key)
        except DockyardError as exc:
            return render(request, "partials/revealed.html", what=f"config-{key}", error=str(exc))
        return render(request, "partials/revealed.html", what=f"config-{key}", value=value)
    post = AppForm(request, services, name, form)
    revealed: dict[str, str] = {}

    def change() -> None:
        revealed[key] = _config_value(services, name, key)

    response = post.apply("config", change)
    if response.status_code != 303:
        return response
    return render(request, "app.html", page=app_page(services, name), errors={}, form={}, revealed=revealed)


@router.post("/apps/{name}/git/secret", dependencies=OPERATE)
def reveal_webhook_secret(request: Request, name: str, services: ServicesDep, form: FormDep) -> Response:
    """The app's webhook secret in clear, for pasting into the git provider."""
    if _is_htmx(request):
        try:
            services.apps.get(name)
            secret = services.git.sources.source(name).webhook_secret
        except DockyardError as exc:
            return render(request, "partials/revealed.html", what="webhook-secret", error=str(exc))
        return render(request, "partials/revealed.html", what="webhook-secret", value=secret)
    try:
        page = app_page(services, name)
        secret = services.git.sources.source(name).webhook_secret
    except DockyardError as exc:
        return error_page(request, http_status(exc), str(exc))
    return render(request, "app.html", page=page, errors={}, form={}, revealed_secret=secret)


# -- live figures -----------------------------------------------------------------------------


@router.get("/apps/{name}/stats", dependencies=READ)
def stats_page(request: Request, name: str, services: ServicesDep) -> HTMLResponse:
    """The app's figures as numbers: what the app page's charts draw, readable without JavaScript."""
    app = services.apps.get(name)
    return render(request, "app_stats.html", app=app, stats=stats_view(services, name))


@router.get("/partials/apps/{name}/stats", dependencies=READ)
def stats_fragment(request: Request, name: str, services: ServicesDep) -> HTMLResponse:
    """The figures alone: what app.js fetches every few seconds to extend the charts."""
    app = services.apps.get(name)
    return render(request, "partials/app_stats.html", app=app, stats=stats_view(services, name))
