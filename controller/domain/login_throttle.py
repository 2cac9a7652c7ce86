"""Slows password guessing: after `limit` failures within `window` seconds, a key waits.

Pure: the caller passes the time. Keys are `user:NAME` and `addr:IP`, so one address
cannot try many users and many addresses cannot try one user.
"""

from collections import deque
from dataclasses import dataclass, field

MAX_FAILURES = 5
WINDOW_SECONDS = 600.0
MAX_KEYS = 100_000  # an attacker cycling addresses cannot grow the table without bound


@dataclass
class LoginThrottle:
    limit: int = MAX_FAILURES
    window: float = WINDOW_SECONDS
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, keys: list[str], now: float) -> float:
        """Seconds until every key may try again; 0 when all may try now."""
        wait = 0.0
        for key in keys:
            times = self._recent(key, now)
            if len(times) >= self.limit:
                wait = max(wait, times[0] + self.window - now)
        return wait

    def failed(self, keys: list[str], now: float) -> None:
        if len(self._failures) > MAX_KEYS:
            self._failures.clear()
        for key in keys:
            self._recent(key, now).append(now)

    def succeeded(self, user_key: str) -> None:
        self._failures.pop(user_key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times
