"""Several containers' log streams merged into one stream of `name | line` strings."""

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass

from docker.types import CancellableStream

LOG_QUEUE_LINES = 1000
LOG_LINE_MAX_BYTES = 64 * 1024
LOG_LINE_SEPARATOR = " | "
READER_WAIT_SECONDS = 0.2  # how long a reader waits for room before checking it should stop


@dataclass(frozen=True)
class _StreamEnded:
    name: str


def close_streams(streams: "Sequence[tuple[str, CancellableStream[bytes]]]") -> None:
    for _, stream in streams:
        with suppress(Exception):
            stream.close()


class MergedLogs:
    """Several containers' output as one stream of `name | line` strings.

    One reader thread per container feeds a bounded queue. Read it either as a blocking
    iterator, or without blocking with `take` (an async consumer sets `on_ready`, called
    from a reader thread when lines arrive in an empty queue). `close` stops the readers
    and their streams without waiting.
    """

    def __init__(self, streams: "list[tuple[str, CancellableStream[bytes]]]") -> None:
        self._streams = streams
        self._lines: queue.Queue[str | _StreamEnded] = queue.Queue(maxsize=LOG_QUEUE_LINES)
        self._stop = threading.Event()
        self._running = len(streams)
        self.on_ready: Callable[[], None] = lambda: None
        self._readers = [
            threading.Thread(target=self._pump, args=(name, stream), name=f"logs-{name}", daemon=True)
            for name, stream in streams
        ]
        for reader in self._readers:
            reader.start()

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        while self._running:
            item = self._lines.get()
            if isinstance(item, _StreamEnded):
                self._running -= 1
            else:
                return item
        self.close()
        raise StopIteration

    def take(self, limit: int) -> tuple[list[str], bool]:
        """Up to `limit` lines ready now, and whether every stream has ended (and all was taken)."""
        taken: list[str] = []
        while self._running and len(taken) < limit:
            try:
                item = self._lines.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _StreamEnded):
                self._running -= 1
            else:
                taken.append(item)
        return taken, not self._running

    def close(self, *, wait: bool = True) -> None:
        """Stop the readers and close the streams; with `wait`, until the readers have exited."""
        self._stop.set()
        close_streams(self._streams)
        if wait:
            for reader in self._readers:
                reader.join(timeout=READER_WAIT_SECONDS * 5)

    def _pump(self, name: str, stream: "CancellableStream[bytes]") -> None:
        _pump_lines(name, stream, self._offer)

    def _offer(self, item: "str | _StreamEnded") -> bool:
        """Put `item`, waiting for room while the consumer is alive; False once it stopped."""
        while not self._stop.is_set():
            was_empty = self._lines.empty()
            try:
                self._lines.put(item, timeout=READER_WAIT_SECONDS)
            except queue.Full:
                continue
            if was_empty:
                self.on_ready()
            return True
        return False


def _pump_lines(
    name: str, stream: "CancellableStream[bytes]", offer: "Callable[[str | _StreamEnded], bool]"
) -> None:
    """Split one container's output into prefixed lines until it ends or `offer` refuses."""
    pending = b""
    try:
        for chunk in stream:
            pending += chunk
            *complete, pending = pending.split(b"\n")
            if len(pending) > LOG_LINE_MAX_BYTES:
                complete.append(pending)
                pending = b""
            for raw in complete:
                if not offer(_prefixed(name, raw)):
                    return
        if pending:
            offer(_prefixed(name, pending))
    finally:
        offer(_StreamEnded(name))


def _prefixed(name: str, raw: bytes) -> str:
    return name + LOG_LINE_SEPARATOR + raw.decode("utf-8", errors="replace").rstrip("\r")
