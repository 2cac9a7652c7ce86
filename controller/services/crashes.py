"""Which app containers crashed lately: Docker's `die` events, kept in memory per app.

A crash-looping container is often replaced (a repair job) before its restart count grows,
and a running container's exit code reads 0 again, so the exits themselves are what show a
crash loop and its exit code. Lost when the controller restarts.
"""

import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from controller.domain.models import ContainerExit

CRASH_WINDOW = timedelta(minutes=2)  # longer than Docker's longest restart backoff (1 min)
CRASH_LOOP = 2  # crashes of the current release within the window
KEPT_PER_APP = 20


class CrashLog:
    """The last crashes of each app's containers (not the stops Dockyard or a user made)."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._by_app: dict[str, deque[ContainerExit]] = {}

    def record(self, exit_: ContainerExit) -> None:
        if not exit_.crashed or not exit_.app:
            return
        with self._lock:
            self._by_app.setdefault(exit_.app, deque(maxlen=KEPT_PER_APP)).append(exit_)

    def recent(self, app: str, release: int | None) -> list[ContainerExit]:
        """Crashes of `release`'s containers within the window, newest first."""
        since = self._clock() - CRASH_WINDOW
        with self._lock:
            exits = list(self._by_app.get(app, ()))
        return [e for e in reversed(exits) if e.at >= since and e.release == release]

    def forget(self, app: str) -> None:
        with self._lock:
            self._by_app.pop(app, None)
