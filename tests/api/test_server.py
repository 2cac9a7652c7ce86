"""The bounds of the API server that need no running server: log flood filter, connection cap."""

import asyncio
import gc
import logging
from dataclasses import replace

from uvicorn.config import Config
from uvicorn.server import ServerState

from controller.api.server import (
    ACCEPT_BURSTS,
    RESERVED_FDS,
    BoundedHttpProtocol,
    ConnectionLimits,
    RateLimitedLog,
    connection_limits,
    freeze_startup_heap,
)
from controller.settings import Settings


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, message, None, None)


def test_a_flood_of_one_message_is_logged_once_per_interval_with_a_count() -> None:
    log = RateLimitedLog(interval=3600)
    passed = [log.filter(_record("socket.accept() out of system resource")) for _ in range(10_000)]
    assert passed.count(True) == 1
    assert log.filter(_record("another message"))


def test_the_count_of_suppressed_records_is_told_with_the_next_one() -> None:
    log = RateLimitedLog(interval=0)
    first, second = _record("refused"), _record("refused")
    assert log.filter(first) and log.filter(second)
    assert second.getMessage() == "refused"
    log = RateLimitedLog(interval=3600)
    log.filter(_record("refused"))
    log.filter(_record("refused"))
    log._interval = 0  # the interval has passed
    later = _record("refused")
    assert log.filter(later)
    assert "and 1 more like it" in later.getMessage()


def test_connections_and_accept_bursts_stay_below_the_open_files_limit() -> None:
    settings = Settings(max_connections=4096, listen_backlog=1024)
    roomy = connection_limits(settings, 1_000_000)
    assert (roomy.max_connections, roomy.backlog) == (4096, 1024)
    for open_files in (1024, 4096, 20_000):
        limits = connection_limits(settings, open_files)
        worst = RESERVED_FDS + limits.max_connections + ACCEPT_BURSTS * limits.backlog
        assert worst <= open_files
        assert limits.max_connections >= limits.backlog >= 16
    assert connection_limits(settings, 64).max_connections == 16


class _Transport(asyncio.Transport):
    """Records what the protocol writes and whether it closed or paused reading."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False
        self.paused = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 40000) if name in ("peername", "sockname") else default


async def _never_reads(scope: object, receive: object, send: object) -> None:
    await asyncio.sleep(3600)


def _connect(
    protocol_class: type[BoundedHttpProtocol], server_state: ServerState | None = None
) -> tuple[BoundedHttpProtocol, _Transport]:
    config = Config(app=_never_reads, http="httptools", lifespan="off", log_level="critical")
    protocol = protocol_class(
        config=config,
        server_state=server_state or ServerState(),
        app_state={},
        _loop=asyncio.get_running_loop(),
    )
    transport = _Transport()
    protocol.connection_made(transport)
    return protocol, transport


LIMITS = ConnectionLimits(header_timeout=0.05, body_timeout=0.05, max_connections=2, backlog=16)


async def _settle() -> None:
    await asyncio.sleep(0.2)  # well past both timeouts of LIMITS


def test_a_request_head_not_sent_in_time_gets_408() -> None:
    async def scenario() -> tuple[bool, bytes]:
        protocol, transport = _connect(BoundedHttpProtocol.bounded(LIMITS))
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n")
        await _settle()
        return transport.closed, transport.written

    closed, written = asyncio.run(scenario())
    assert closed
    assert written.startswith(b"HTTP/1.1 408 ")


def test_a_stalled_body_is_cut_but_not_one_the_app_is_slow_to_take() -> None:
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"

    async def closed(*, paused: bool) -> bool:
        protocol, transport = _connect(BoundedHttpProtocol.bounded(LIMITS))
        protocol.data_received(head + b"x" * 100)
        if paused:
            protocol.flow.pause_reading()  # what uvicorn does when the app does not read
        await _settle()
        return transport.closed

    assert asyncio.run(closed(paused=False))
    assert not asyncio.run(closed(paused=True))


def test_past_the_cap_the_oldest_half_sent_request_makes_room_else_503() -> None:
    async def scenario() -> list[tuple[bool, bytes]]:
        state = ServerState()
        slow = BoundedHttpProtocol.bounded(replace(LIMITS, header_timeout=60, body_timeout=60))
        half_sent, first = _connect(slow, state)
        half_sent.data_received(b"GET / HT")
        busy, second = _connect(slow, state)
        upload = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
        busy.data_received(upload)
        newcomer, third = _connect(slow, state)  # evicts the half-sent request
        newcomer.data_received(upload)
        _, fourth = _connect(slow, state)  # every other one is busy: refused
        return [(t.closed, t.written) for t in (first, second, third, fourth)]

    first, second, third, fourth = asyncio.run(scenario())
    assert first[0] and not second[0] and not third[0]
    assert fourth[0] and fourth[1].startswith(b"HTTP/1.1 503 ")


def test_the_start_up_heap_is_frozen_and_later_garbage_still_collected() -> None:
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() > 1000
        Cycle()
        assert gc.collect() >= 1  # made after the freeze: collected as before
    finally:
        gc.unfreeze()
