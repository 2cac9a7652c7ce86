"""Requests and 5xx answers per app over the last minute, counted from nginx's access logs.

Each app's servers log to `<app>.access.log` in nginx's `combined` format. The meter reads
each log incrementally (it remembers the file and the offset per app, so a call reads only
what nginx wrote since the last one), counts lines into one-second buckets by their own
timestamp, and sums the buckets of the window. A log that was rotated (another file at the
path) or truncated is read again from its start; a last line nginx has not finished is left
for the next call. No daemon: the counting happens when someone asks.
"""

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from controller.services.ports import Traffic

WINDOW = 60.0
FIRST_READ_BYTES = 4 * 1024 * 1024  # of a log never read before: its tail holds the last minute
_LINE = re.compile(rb'\[(?P<time>[^\]]+)\] "(?:[^"\\]|\\.)*" (?P<status>\d{3}) ')
_TIME_FORMAT = "%d/%b/%Y:%H:%M:%S %z"


def parse_line(line: bytes) -> tuple[str, int] | None:
    """The `$time_local` text and the status of a combined-format line; None if it is not one."""
    match = _LINE.search(line)
    if match is None:
        return None
    return match.group("time").decode("ascii", errors="replace"), int(match.group("status"))


@dataclass
class TrafficWindow:
    """Requests and errors in one-second buckets, pruned to the last `window` seconds."""

    window: float = WINDOW
    buckets: dict[int, list[int]] = field(default_factory=dict)  # epoch second -> [requests, errors]

    def add(self, second: int, status: int) -> None:
        counts = self.buckets.setdefault(second, [0, 0])
        counts[0] += 1
        if 500 <= status <= 599:
            counts[1] += 1

    def totals(self, now: float) -> Traffic:
        """The counts of the seconds within (now - window, now]; older buckets are dropped."""
        oldest = now - self.window
        self.buckets = {second: c for second, c in self.buckets.items() if second > oldest}
        requests = sum(c[0] for c in self.buckets.values())
        errors = sum(c[1] for c in self.buckets.values())
        return Traffic(requests=requests, errors=errors, window=self.window)


@dataclass
class _LogCursor:
    """Where the last read of one app's log stopped: which file (device, inode) and where in it."""

    file: tuple[int, int]
    offset: int


class AccessLogMeter:
    """The `TrafficMeter` port over nginx's per-app access logs.

    Args:
        log_path: the access log of an app (the proxy's `access_log_path`).
        window: seconds counted back from now.
        clock: the wall clock (the log's timestamps are wall-clock times).
    """

    def __init__(
        self,
        log_path: Callable[[str], Path],
        *,
        window: float = WINDOW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._log_path = log_path
        self._window = window
        self._clock = clock
        self._cursors: dict[str, _LogCursor] = {}
        self._windows: dict[str, TrafficWindow] = {}
        self._seconds: dict[str, int] = {}  # a cache of parsed $time_local texts
        self._lock = threading.Lock()

    def traffic(self, app: str) -> Traffic:
        with self._lock:
            counts = self._windows.setdefault(app, TrafficWindow(self._window))
            self._read_new_lines(app, counts)
            return counts.totals(self._clock())

    def _read_new_lines(self, app: str, counts: TrafficWindow) -> None:
        try:
            log = self._log_path(app).open("rb")
        except FileNotFoundError:
            return
        with log:
            stat = os.fstat(log.fileno())
            file = (stat.st_dev, stat.st_ino)
            cursor = self._cursors.get(app)
            if cursor is None:
                offset = max(0, stat.st_size - FIRST_READ_BYTES)
            elif cursor.file != file or stat.st_size < cursor.offset:
                offset = 0  # rotated or truncated: the new content starts at the beginning
            else:
                offset = cursor.offset
            log.seek(offset)
            data = log.read()
        end = data.rfind(b"\n") + 1  # an unfinished last line waits for the next read
        lines = data[:end].split(b"\n")
        if offset and (cursor is None) and lines:
            lines = lines[1:]  # the first read starts mid-file: its first line may be cut
        for line in lines:
            self._count(line, counts)
        self._cursors[app] = _LogCursor(file=file, offset=offset + end)

    def _count(self, line: bytes, counts: TrafficWindow) -> None:
        parsed = parse_line(line)
        if parsed is None:
            return
        text, status = parsed
        second = self._seconds.get(text)
        if second is None:
            try:
                second = int(datetime.strptime(text, _TIME_FORMAT).timestamp())
            except ValueError:
                return
            if len(self._seconds) > 4096:
                self._seconds.clear()
            self._seconds[text] = second
        counts.add(second, status)
