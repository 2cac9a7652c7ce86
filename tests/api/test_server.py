"""The bounds of the API server that need no running server: log flood filter, connection cap."""

import logging

from controller.api.server import (
    ACCEPT_BURSTS,
    RESERVED_FDS,
    RateLimitedLog,
    connection_limits,
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
