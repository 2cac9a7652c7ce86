"""Deploy logs of any length in the GUI: the page holds a window of lines, the rest on demand.

The deploy page renders at most WINDOW lines (the last ones, or those from `?from=`), with
links to the lines before and after them, a search over the whole stored log and a
download of it, so it reads with JavaScript off. logview.js then fetches ranges (JSON),
searches (JSON) and follows a running deploy from the last line it has (an event stream
whose event ids are line numbers, so a reconnecting EventSource resumes by itself).
"""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from controller.api.auth import deploy_app
from controller.api.deps import ServicesDep
from controller.api.follow import FOLLOW_POLL, SSE_HEADERS, FollowersDep
from controller.domain.access import Action
from controller.domain.models import Deploy
from controller.services.log_ranges import MAX_QUERY, MAX_RANGE
from controller.web.deps import current_session, needs
from controller.web.render import SECURITY_HEADERS, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(current_session)])
WINDOW = 2_000  # lines of a log in the page at once
PAGE_HITS = 50  # search matches listed on the page
FromLine = Annotated[int | None, Query(alias="from", ge=0)]
READ_DEPLOY = Depends(needs(Action.READ, app=deploy_app))  # the deploy's app, read access


async def _deploy(services: ServicesDep, deploy_id: str) -> Deploy:
    return await run_in_threadpool(services.history.get, deploy_id)


@router.get("/deploys/{deploy_id}", dependencies=[READ_DEPLOY])
async def deploy_page(
    request: Request,
    deploy_id: str,
    services: ServicesDep,
    start: FromLine = None,
    q: Annotated[str, Query(max_length=MAX_QUERY)] = "",
) -> HTMLResponse:
    """The deploy and a window of its log: the last WINDOW lines, or those from `?from=`;
    with `?q=`, the lines that match (links to each) and the window around the first."""
    deploy = await _deploy(services, deploy_id)
    ranges = services.logs.ranges
    found = await run_in_threadpool(ranges.search, deploy_id, q, limit=PAGE_HITS) if q else None
    if start is None and found and found.hits:
        start = max(found.hits[0].number - WINDOW // 2, 0)
    if start is None:
        view = await run_in_threadpool(ranges.tail, deploy_id, WINDOW)
    else:
        view = await run_in_threadpool(ranges.lines, deploy_id, start, start + WINDOW)
    return render(
        request,
        "deploy.html",
        deploy=deploy,
        view=view,
        window=WINDOW,
        query=q,
        found=found,
        follow=not deploy.status.is_final and not view.complete,
    )


@router.get("/deploys/{deploy_id}/lines", dependencies=[READ_DEPLOY])
async def log_lines(
    deploy_id: str,
    services: ServicesDep,
    start: Annotated[int, Query(ge=0)] = 0,
    stop: Annotated[int, Query(ge=0)] = WINDOW,
) -> JSONResponse:
    """Lines [start, stop) of the stored log (at most MAX_RANGE), with the log's length so far."""
    await _deploy(services, deploy_id)
    got = await run_in_threadpool(services.logs.ranges.lines, deploy_id, start, stop)
    body = {
        "start": got.start,
        "stop": got.stop,
        "total": got.total,
        "complete": got.complete,
        "lines": got.lines,
    }
    return JSONResponse(body, headers=SECURITY_HEADERS)


@router.get("/deploys/{deploy_id}/search", dependencies=[READ_DEPLOY])
async def log_search(
    deploy_id: str,
    services: ServicesDep,
    q: Annotated[str, Query(max_length=MAX_QUERY)] = "",
    start: Annotated[int, Query(ge=0)] = 0,
) -> JSONResponse:
    """Line numbers (and text) of the lines containing `q`, case-insensitive, from `start` on."""
    await _deploy(services, deploy_id)
    found = await run_in_threadpool(services.logs.ranges.search, deploy_id, q, start=start)
    body = {
        "hits": [{"n": hit.number, "line": hit.line} for hit in found.hits],
        "total": found.total,
        "more": found.more,
    }
    return JSONResponse(body, headers=SECURITY_HEADERS)


@router.get("/deploys/{deploy_id}/log.txt", dependencies=[READ_DEPLOY])
async def log_download(deploy_id: str, services: ServicesDep) -> StreamingResponse:
    """The whole stored log as a text file (streamed a chunk at a time)."""
    await _deploy(services, deploy_id)
    logs = services.logs

    async def chunks() -> AsyncIterator[bytes]:
        cursor = 0
        while True:
            chunk = await run_in_threadpool(logs.read_from, deploy_id, cursor)
            if not chunk.lines:
                return
            cursor = chunk.cursor
            yield ("\n".join(chunk.lines) + "\n").encode()

    headers = {
        **SECURITY_HEADERS,
        "Content-Disposition": f'attachment; filename="deploy-{deploy_id}.log"',
    }
    return StreamingResponse(chunks(), media_type="text/plain; charset=utf-8", headers=headers)


def _event(event: str, data: object, event_id: int | None = None) -> bytes:
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return (head + f"data: {json.dumps(data)}\n\n").encode()


def _resume_line(request: Request, start: int | None) -> int:
    """Where a stream starts: after the last event the browser saw (its Last-Event-ID), or
    `?from=`, or at the beginning."""
    last = request.headers.get("last-event-id", "")
    if last.isdigit():
        return int(last)
    return start or 0


@router.get("/live/deploys/{deploy_id}/lines", dependencies=[READ_DEPLOY])
async def live_log_lines(
    request: Request, deploy_id: str, services: ServicesDep, followers: FollowersDep, start: FromLine = None
) -> StreamingResponse:
    """A running deploy's log from line `from` on, until it ends: `lines` events
    ({"from": n, "lines": [...]}, id: the number of the line after them), then `end`
    ({"total": n, "status": ..., "error": ...}). Reconnecting with Last-Event-ID resumes."""
    deploy = await _deploy(services, deploy_id)
    logs = services.logs
    first = _resume_line(request, start)
    cursor, number, skip = await run_in_threadpool(logs.ranges.cursor_of, deploy_id, first)
    slot = followers.acquire(deploy.app)

    async def stream() -> AsyncIterator[bytes]:
        nonlocal cursor, number, skip
        try:
            yield b": following\n\n"
            while True:
                chunk = await run_in_threadpool(logs.read_from, deploy_id, cursor)
                cursor = chunk.cursor
                fresh = chunk.lines[skip:]
                at = number + min(skip, len(chunk.lines))
                number += len(chunk.lines)
                skip = max(skip - len(chunk.lines), 0)
                for part in range(0, len(fresh), MAX_RANGE):
                    batch = fresh[part : part + MAX_RANGE]
                    yield _event("lines", {"from": at + part, "lines": batch}, at + part + len(batch))
                if chunk.complete:
                    break
                if not chunk.lines:
                    while not logs.has_news(deploy_id, cursor):
                        await asyncio.sleep(FOLLOW_POLL)
            final = await _deploy(services, deploy_id)
            ended = {"total": number, "status": str(final.status), "error": final.error or ""}
            yield _event("end", ended, number)
        finally:
            slot.release()

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers=SSE_HEADERS, background=slot.background()
    )
