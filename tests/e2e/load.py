"""Bounded clients that keep sending requests through nginx and count every failure."""

import threading
import time
from collections import Counter
from typing import Self

import httpx


class BackgroundLoad:
    """Runs `_run` on a thread inside a `with` block; counts statuses, errors and retries."""

    def __init__(self, *, max_seconds: float) -> None:
        self._stop = threading.Event()
        self._max_seconds = max_seconds
        self.statuses: Counter[int] = Counter()
        self.errors: list[str] = []
        self.retries = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    @property
    def total(self) -> int:
        return sum(self.statuses.values()) + len(self.errors)

    @property
    def failures(self) -> int:
        return len(self.errors) + sum(n for status, n in self.statuses.items() if not 200 <= status < 300)

    def wait_for(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.total < count and time.monotonic() < deadline:
            time.sleep(0.01)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


class LoadClient(BackgroundLoad):
    """Sends keep-alive GETs with a Host header from a thread until stopped."""

    def __init__(self, port: int, host: str, *, max_seconds: float = 300) -> None:
        super().__init__(max_seconds=max_seconds)
        self._url = f"http://127.0.0.1:{port}/"
        self._host = host
        self.bodies: Counter[str] = Counter()
        self.failure_log: list[tuple[float, str]] = []  # when each failed request was sent, and how

    def _run(self) -> None:
        deadline = time.monotonic() + self._max_seconds
        with httpx.Client(headers={"Host": self._host}, timeout=10) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                sent = time.monotonic()
                try:
                    response = self._get(client)
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                    self.failure_log.append((sent, type(exc).__name__))
                    continue
                self.statuses[response.status_code] += 1
                if not 200 <= response.status_code < 300:
                    self.failure_log.append((sent, str(response.status_code)))
                self.bodies[response.text.strip()] += 1

    def _get(self, client: httpx.Client) -> httpx.Response:
        """GET once; retry once when a kept-alive connection was closed before any answer.

        nginx closes idle keep-alive connections when old workers exit after a reload;
        a request sent in that instant never reached the server, and browsers and most
        HTTP clients retry it, as here. Every other error, and any non-2xx, counts.
        """
        try:
            return client.get(self._url)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
            self.retries += 1
            return client.get(self._url)
