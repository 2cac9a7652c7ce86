"""Long-lived streams (log follows, the event stream): capped, and idle without a thread.

Each open stream takes a slot, per app and in total, from `FollowerLimits`; past either
cap the request is refused at once (429 for one app's share, 503 for the controller's)
instead of piling up. A slot is given back when the stream ends, including when the
client goes away: Starlette cancels the stream on the client's disconnect.
"""

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from controller.domain.errors import DockyardError, ErrorKind
from controller.services.deploy_logs import DeployLogHub
from controller.services.events import EventBus
from controller.services.ports import LogLines

TAKE_LINES = 500
FOLLOW_POLL = 0.05  # seconds between looks (in memory) for new deploy log lines
WAKE_CHECK = 1.0  # seconds; a missed wake-up costs at most this much delay
KEEPALIVE = 15.0  # seconds of silence on an event stream before a comment line keeps it open
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class TooManyFollowers(DockyardError):
    """One app already has as many open streams as it may have."""

    kind = ErrorKind.RATE_LIMITED


class FollowersExhausted(DockyardError):
    """The controller already serves as many open streams as it may."""

    kind = ErrorKind.UNAVAILABLE


class FollowerSlot:
    """One open stream's place; `release` is idempotent."""

    def __init__(self, release: Callable[[], None]) -> None:
        self._release: Callable[[], None] | None = release

    def release(self) -> None:
        if self._release is not None:
            self._release()
            self._release = None

    def background(self) -> BackgroundTask:
        """Release once the response is over, even if its stream never started."""
        return BackgroundTask(self.release)


class FollowerLimits:
    """Counts open streams per app and in total (event loop only, so no lock)."""

    def __init__(self, *, per_app: int, total: int) -> None:
        self._per_app = per_app
        self._total = total
        self._open: Counter[str] = Counter()
        self._all = 0

    @property
    def open(self) -> int:
        return self._all

    def acquire(self, app: str | None) -> FollowerSlot:
        """A slot for one more stream (of `app`, or of no app); refuses past a cap."""
        if self._all >= self._total:
            raise FollowersExhausted(
                f"the controller already serves {self._total} open streams; try again later"
            )
        if app is not None and self._open[app] >= self._per_app:
            raise TooManyFollowers(f"app {app!r} already has {self._per_app} open streams; close one first")
        self._all += 1
        if app is not None:
            self._open[app] += 1
        return FollowerSlot(lambda: self._release(app))

    def _release(self, app: str | None) -> None:
        self._all -= 1
        if app is not None:
            self._open[app] -= 1
            if not self._open[app]:
                del self._open[app]


async def get_followers(request: Request) -> FollowerLimits:
    followers: FollowerLimits = request.app.state.followers
    return followers


FollowersDep = Annotated[FollowerLimits, Depends(get_followers)]


async def stream_lines(
    lines: LogLines, slot: FollowerSlot, keep: Callable[[str], bool] = lambda _line: True
) -> AsyncIterator[bytes]:
    """`lines` (those `keep` accepts) as text, waiting on the event loop (no thread held while idle)."""
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()

    def wake() -> None:
        with suppress(RuntimeError):  # the loop closed
            loop.call_soon_threadsafe(ready.set)

    lines.on_ready = wake
    try:
        while True:
            ready.clear()
            batch, ended = lines.take(TAKE_LINES)
            kept = [line for line in batch if keep(line)]
            if kept:
                yield ("\n".join(kept) + "\n").encode()
            if ended:
                return
            if not batch:
                with suppress(TimeoutError):
                    await asyncio.wait_for(ready.wait(), timeout=WAKE_CHECK)
    finally:
        lines.close(wait=False)
        slot.release()


async def deploy_log_lines(logs: DeployLogHub, deploy_id: str, *, follow: bool) -> AsyncIterator[list[str]]:
    """Batches of a deploy's log lines; with `follow`, until the deploy's log is complete.

    Files are read on the threadpool only when there is something new to read; the
    waiting in between looks at a counter in memory.
    """
    cursor = 0
    while True:
        chunk = await run_in_threadpool(logs.read_from, deploy_id, cursor)
        cursor = chunk.cursor
        if chunk.lines:
            yield chunk.lines
            continue
        if chunk.complete or not follow:
            return
        while not logs.has_news(deploy_id, cursor):
            await asyncio.sleep(FOLLOW_POLL)


def event_stream(
    events: EventBus,
    followers: FollowerLimits,
    *,
    after: str | None,
    visible: Callable[[str], bool] = lambda app: True,
) -> StreamingResponse:
    """The controller's events as Server-Sent Events, each with its `id:`, from after `after`
    (or a `resync` event first when those cannot be replayed); takes a follower slot.
    An event about an app that `visible` refuses is left out (a scoped principal's stream)."""
    slot = followers.acquire(None)
    subscription = events.subscribe(after=after)

    def end() -> None:
        subscription.close()
        slot.release()

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield b": connected\n\n"
            idle = 0.0
            while True:
                batch = subscription.drain()
                for event in batch:
                    app = event.data.get("app")
                    if isinstance(app, str) and not visible(app):
                        continue
                    yield f"event: {event.type}\nid: {event.id}\ndata: {json.dumps(event.data)}\n\n".encode()
                if batch:
                    idle = 0.0
                elif idle >= KEEPALIVE:
                    yield b": keep-alive\n\n"
                    idle = 0.0
                await asyncio.sleep(FOLLOW_POLL)
                idle += FOLLOW_POLL
        finally:
            end()

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers=SSE_HEADERS, background=BackgroundTask(end)
    )
