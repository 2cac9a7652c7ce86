"""Deploy logs: every line is persisted and handed to live followers without blocking the deploy."""

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from controller.services.ports import DeployLogStore

KEEP_FINISHED_LIVE = 200


@dataclass
class _LiveLog:
    lines: list[str] = field(default_factory=list)
    finished: bool = False


class DeployLogHub:
    """Appends go to the persistent store and to an in-memory copy that followers poll.

    Followers only ever read a slice of a list, so a slow or vanished follower cannot
    hold the writer up.
    """

    def __init__(self, store: DeployLogStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._live: dict[str, _LiveLog] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()  # oldest first

    def open(self, deploy_id: str) -> None:
        """Start a live log for a deploy that was just queued."""
        with self._lock:
            self._live[deploy_id] = _LiveLog()

    def append(self, deploy_id: str, line: str) -> None:
        for part in line.splitlines() or [""]:
            self._store.append(deploy_id, part)
            with self._lock:
                live = self._live.get(deploy_id)
                if live is not None:
                    live.lines.append(part)

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

    def read_from(self, deploy_id: str, cursor: int) -> tuple[list[str], bool]:
        """Return the lines after `cursor` and whether the log is complete."""
        with self._lock:
            live = self._live.get(deploy_id)
            if live is not None:
                return live.lines[cursor:], live.finished
        return self._store.read(deploy_id)[cursor:], True

    def discard(self, deploy_id: str) -> None:
        with self._lock:
            self._live.pop(deploy_id, None)
            self._finished.pop(deploy_id, None)
        self._store.delete(deploy_id)
