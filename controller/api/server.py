"""Serving the API with uvicorn, bounded: request deadlines, a connection cap, quiet floods.

uvicorn's httptools protocol never times out a connection that is still sending its
request, so a client that sends half a request head (or a body that stalls) holds a
file descriptor forever; ~20,000 of them exhausted the controller's descriptors and the
API stopped answering. `BoundedHttpProtocol` adds:

- a deadline for each request head (`header_timeout`, from the first byte or from the
  connection), then 408 and close;
- an idle timeout while a request body arrives (`body_timeout` between chunks, not
  counting time in which the app itself is not reading), then close;
- a cap on open connections: past it, the connection waiting longest for its request
  head is closed to make room (a flood of half-sent requests cannot lock others out),
  and when none is waiting the new connection gets 503 and is closed.

Idle keep-alive connections are closed by uvicorn's own `timeout_keep_alive`.
"""

import asyncio
import gc
import json
import logging
import resource
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from controller.settings import Settings

logger = logging.getLogger(__name__)

# Descriptors kept back from the connection cap: database, Docker, nginx, git, logs, threads.
RESERVED_FDS = 256
# asyncio accepts up to the listen backlog per wake-up, and a connection is counted two
# loop iterations after its accept: keep a few such bursts back from the cap.
ACCEPT_BURSTS = 3
MIN_CONNECTIONS = 16


def _response(status: str, detail: str) -> bytes:
    """A complete HTTP/1.1 answer with a JSON `detail` that closes the connection."""
    body = json.dumps({"detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        "connection: close\r\nretry-after: 1\r\n\r\n"
    )
    return head.encode() + body


REFUSED = _response("503 Service Unavailable", "too many connections to the API, try again")
TIMED_OUT = _response("408 Request Timeout", "the request was not sent in time")


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float
    body_timeout: float
    max_connections: int
    backlog: int


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with request deadlines and a connection cap.

    The class attributes are shared by every connection of one server: use `bounded()`
    to make a subclass per server.
    """

    limits: ClassVar[ConnectionLimits]
    open_connections: ClassVar[set["BoundedHttpProtocol"]]
    awaiting_head: ClassVar["OrderedDict[BoundedHttpProtocol, None]"]  # oldest first

    _timer: asyncio.TimerHandle | None = None
    _refused = False

    @classmethod
    def bounded(cls, limits: ConnectionLimits) -> type["BoundedHttpProtocol"]:
        attributes = {"limits": limits, "open_connections": set(), "awaiting_head": OrderedDict()}
        return type("BoundedHttpProtocolOfServer", (cls,), attributes)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.open_connections) >= self.limits.max_connections and not self._evict_one():
            self._refused = True
            _flood_log.warning("refused a connection: %d connections are open", len(self.open_connections))
            transport.write(REFUSED)
            transport.close()
            return
        self.open_connections.add(self)
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._forget()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self not in self.awaiting_head:
            self._await_head()

    def on_headers_complete(self) -> None:
        self.awaiting_head.pop(self, None)
        self._arm(self.limits.body_timeout, self._body_timed_out)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._arm(self.limits.body_timeout, self._body_timed_out)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _await_head(self) -> None:
        self.awaiting_head[self] = None
        self._arm(self.limits.header_timeout, self._head_timed_out)

    def _arm(self, delay: float, callback: Callable[[], None]) -> None:
        self._disarm()
        self._timer = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _forget(self) -> None:
        self._disarm()
        self.open_connections.discard(self)
        self.awaiting_head.pop(self, None)

    def _head_timed_out(self) -> None:
        self._timer = None
        answering = self.cycle is not None and not self.cycle.response_complete
        if not self.transport.is_closing():
            if not answering:  # a pipelined head: no 408 inside the response being sent
                self.transport.write(TIMED_OUT)
            self.transport.close()
        self._forget()

    def _body_timed_out(self) -> None:
        self._timer = None
        if self.flow.read_paused:  # the app is slow to take the body, not the client to send it
            self._arm(self.limits.body_timeout, self._body_timed_out)
            return
        self.transport.close()  # the app sees the client disconnect
        self._forget()

    def _evict_one(self) -> bool:
        """Close the connection that has waited longest for its request head; False if none."""
        if not self.awaiting_head:
            return False
        oldest, _ = self.awaiting_head.popitem(last=False)
        _flood_log.warning("closed a connection that sent no complete request to make room")
        oldest.transport.close()
        oldest._forget()
        return True


class RateLimitedLog(logging.Filter):
    """Lets one record per logger and message through per `interval`; counts the rest.

    A flood (connections refused, accept() failing for want of descriptors) must not
    grow the log by millions of lines.
    """

    def __init__(self, interval: float = 1.0) -> None:
        super().__init__()
        self._interval = interval
        self._last: dict[tuple[str, object], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.msg)
        now = time.monotonic()
        last, suppressed = self._last.get(key, (-self._interval, 0))
        if now - last < self._interval:
            self._last[key] = (last, suppressed + 1)
            return False
        if len(self._last) > 1000:
            self._last.clear()
        self._last[key] = (now, 0)
        if suppressed:
            record.msg = f"{record.msg} (and {suppressed} more like it in the last {now - last:.0f} s)"
        return True


_flood_log = logging.getLogger("dockyard.connections")


def raise_open_files_limit() -> int:
    """Raise the soft limit of open files to the hard one; return the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            logger.warning("could not raise the open files limit from %d to %d", soft, hard)
    return soft


def connection_limits(settings: Settings, open_files: int) -> ConnectionLimits:
    """The configured limits, with connections and accept bursts kept below the descriptors available."""
    spare = max(0, open_files - RESERVED_FDS)
    backlog = max(MIN_CONNECTIONS, min(settings.listen_backlog, spare // (2 * ACCEPT_BURSTS)))
    cap = min(settings.max_connections, max(MIN_CONNECTIONS, spare - ACCEPT_BURSTS * backlog))
    return ConnectionLimits(
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        max_connections=cap,
        backlog=backlog,
    )


def freeze_startup_heap() -> None:
    """Keep what start-up made (modules, the wiring: ~140,000 objects) out of the cycle
    collector's full passes, which otherwise walk all of it again: 100-250 ms each, about
    one every 100 dashboard renders (each leaves a few thousand objects promoted), which was
    the dashboard's p99. Called once the services have started; objects made later are
    collected as before."""
    gc.collect()
    gc.freeze()


def serve(app: FastAPI, settings: Settings) -> None:
    """Run `app` on the settings' listen address until interrupted."""
    limits = connection_limits(settings, raise_open_files_limit())
    flood_filter = RateLimitedLog()
    for name in ("asyncio", "uvicorn.error", _flood_log.name):
        logging.getLogger(name).addFilter(flood_filter)
    uvicorn.run(
        app,
        host=settings.listen_host,
        port=settings.listen_port,
        http=BoundedHttpProtocol.bounded(limits),  # httptools: the C parser, not the pure-Python h11
        loop="asyncio",  # uvloop is ~10% faster here but costs ~2 MB of the 100 MB budget
        log_level="info",
        access_log=False,
        timeout_keep_alive=settings.keepalive_timeout,
        backlog=limits.backlog,
    )
