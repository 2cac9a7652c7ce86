"""Deploy logs: every line is persisted (capped) and read back by followers from the store.

Nothing of a log's content is held in memory: followers read from the store with a
cursor, and learn that there is more to read, or that the log is complete, from a
counter the hub keeps per live log.
"""

import threading
from collections import OrderedDict
from dataclasses import dataclass

from controller.services.log_ranges import LogRanges
from controller.services.ports import DeployLogStore

KEEP_FINISHED_LIVE = 200


@dataclass
class _LiveLog:
    end: int = 0  # the store's cursor at the end of what was appended
    finished: bool = False


@dataclass(frozen=True)
class LogChunk:
    """Lines read from a cursor: the cursor after them, and whether the log is complete."""

    lines: list[str]
    cursor: int
    complete: bool  # finished, and nothing left after `cursor`


class DeployLogHub:
    """Appends go to the persistent store; followers read the store from their cursor.

    A slow or vanished follower cannot hold the writer up: it reads files on its own.
    """

    def __init__(self, store: DeployLogStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._live: dict[str, _LiveLog] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()  # oldest first
        self.ranges = LogRanges(store, self.is_finished)  # counts, line ranges, searches

    def open(self, deploy_id: str, *, new: bool = False) -> None:
        """Start a live log for a deploy that was just queued (or picked up again).

        A `new` deploy (an id never used before) has an empty log: its files are not looked
        at (the intake opens the log of every request's job on the request's path).
        """
        end = 0 if new else self._store.size(deploy_id)
        with self._lock:
            self._live[deploy_id] = _LiveLog(end=end)
            self._finished.pop(deploy_id, None)
        self.ranges.forget(deploy_id)

    def append(self, deploy_id: str, line: str) -> None:
        for part in line.splitlines() or [""]:
            self._store.append(deploy_id, part)
        end = self._store.size(deploy_id)
        with self._lock:
            live = self._live.get(deploy_id)
            if live is not None:
                live.end = end

    def finish(self, deploy_id: str) -> None:
        with self._lock:
            live = self._live.get(deploy_id)
            if live is None:
                return
            live.finished = True
            self._finished[deploy_id] = None
            while len(self._finished) > KEEP_FINISHED_LIVE:
                oldest, _ = self._finished.popitem(last=False)
                self._live.pop(oldest, None)

    def is_finished(self, deploy_id: str) -> bool:
        """Whether nothing more will be appended (a log not open here is one of the past)."""
        with self._lock:
            live = self._live.get(deploy_id)
            return live is None or live.finished

    def has_news(self, deploy_id: str, cursor: int) -> bool:
        """Whether a read from `cursor` may return something new (no I/O: for polling)."""
        with self._lock:
            live = self._live.get(deploy_id)
            return live is None or live.finished or live.end > cursor

    def read_from(self, deploy_id: str, cursor: int = 0) -> LogChunk:
        """A bounded chunk of lines after `cursor`."""
        with self._lock:
            live = self._live.get(deploy_id)
            finished = live is None or live.finished
        lines, after = self._store.read_from(deploy_id, cursor)
        return LogChunk(lines, after, complete=finished and not lines)

    def discard(self, deploy_id: str) -> None:
        with self._lock:
            self._live.pop(deploy_id, None)
            self._finished.pop(deploy_id, None)
        self._store.delete(deploy_id)
        self.ranges.forget(deploy_id)
