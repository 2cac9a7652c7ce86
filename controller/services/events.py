"""An in-process event bus: deploy and app state changes, fanned out to live subscribers.

Publishing never blocks: each subscriber has a bounded buffer that drops its oldest events
when the subscriber does not keep up, so a slow or vanished client cannot slow a deploy.

Every event gets an id `<epoch>-<seq>`: `seq` counts up and `epoch` names the event history.
The bus keeps the last HISTORY events, so a client that lost its connection resumes after the
last id it saw (SSE's Last-Event-ID) and gets exactly what it missed. With a journal (a file
in the data dir, in production) the history outlives the controller: after a restart the
epoch and the count go on where they were, and a client resumes across the restart too.
When resuming is not possible (another history, an id from the future, or more than HISTORY
events passed), the client first gets a `resync` event: refetch the state, then follow on.
"""

import secrets
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

HISTORY = 10_000
BUFFER = HISTORY  # a replay of the whole history fits
RESYNC = "resync"


@dataclass(frozen=True)
class Event:
    """One published event: its resumable id, its type and its JSON-able body."""

    id: str
    type: str
    data: dict[str, Any]


def sequence_of(event_id: str) -> int:
    """The count part of an event id; -1 when it has none."""
    text = event_id.rpartition("-")[2]
    return int(text) if text.isdigit() else -1


class EventJournal(Protocol):
    """Where the event history is kept across restarts (an append-only file, in production).

    Writing never raises: an event that could not be written is only missing after a restart.
    """

    def load(self) -> tuple[str | None, list[Event]]:
        """The history's epoch (None when there is no history yet) and its events, oldest first."""
        ...

    def append(self, event: Event) -> None: ...

    def rewrite(self, epoch: str, events: Sequence[Event]) -> None:
        """Replace the whole history by `events` (compaction; also starts a new history)."""
        ...


class Subscription:
    """One subscriber's buffer; `drain` returns what arrived since the last call."""

    def __init__(self, bus: "EventBus", backlog: list[Event]) -> None:
        self._bus = bus
        self._events: deque[Event] = deque(backlog, maxlen=BUFFER)
        self._arrived = threading.Event()
        self.dropped = 0

    def _push(self, event: Event) -> None:
        if len(self._events) == BUFFER:
            self.dropped += 1
        self._events.append(event)
        if not self._arrived.is_set():  # under the bus's lock, as `drain` clears it
            self._arrived.set()

    def wait(self, timeout: float) -> bool:
        """Block until an event arrives (True) or `timeout` seconds pass; for in-process listeners."""
        return self._arrived.wait(timeout)

    def drain(self) -> list[Event]:
        with self._bus.lock:
            events = list(self._events)
            self._events.clear()
            self._arrived.clear()
        return events

    def close(self) -> None:
        self._bus.unsubscribe(self)


class EventBus:
    """Thread-safe fan-out of small JSON-able dicts, with the recent past kept for resumes."""

    def __init__(self, epoch: str | None = None, journal: EventJournal | None = None) -> None:
        self.lock = threading.Lock()
        self._journal = journal
        self._history: deque[Event] = deque(maxlen=HISTORY)
        self._subscribers: set[Subscription] = set()
        self._since_rewrite = 0
        kept_epoch, kept = journal.load() if journal else (None, [])
        self.epoch = epoch or kept_epoch or secrets.token_hex(4)
        if kept and kept_epoch == self.epoch:
            self._history.extend(kept[-HISTORY:])
        self._seq = max((sequence_of(e.id) for e in self._history), default=0)
        if journal and (kept_epoch != self.epoch or len(kept) > HISTORY):
            journal.rewrite(self.epoch, list(self._history))

    def publish(self, event_type: str, /, **data: Any) -> None:
        body = {"type": event_type, "at": datetime.now(UTC).isoformat(), **data}
        with self.lock:
            self._seq += 1
            event = Event(f"{self.epoch}-{self._seq}", event_type, body)
            self._history.append(event)
            if self._journal:
                self._journal.append(event)
                self._since_rewrite += 1
                if self._since_rewrite >= HISTORY:  # the file holds at most twice the history
                    self._journal.rewrite(self.epoch, list(self._history))
                    self._since_rewrite = 0
            for subscriber in self._subscribers:
                subscriber._push(event)

    def subscribe(self, after: str | None = None) -> Subscription:
        """Follow from now on; with `after` (an event id), first replay what came after it."""
        with self.lock:
            subscription = Subscription(self, self._backlog(after) if after else [])
            self._subscribers.add(subscription)
        return subscription

    def _backlog(self, after: str) -> list[Event]:
        epoch = after.strip().rpartition("-")[0]
        seq = sequence_of(after.strip())
        first_kept = sequence_of(self._history[0].id) if self._history else self._seq + 1
        # Resumable: this history's id, not from the future, and nothing missed has been dropped.
        if epoch == self.epoch and 0 <= seq <= self._seq and seq >= first_kept - 1:
            return [e for e in self._history if sequence_of(e.id) > seq]
        if epoch != self.epoch:
            reason = "the controller restarted without its event history"
        elif seq > self._seq:
            reason = "the event id is newer than any event here"
        else:
            reason = "too many events were missed"
        resync = Event(
            f"{self.epoch}-{self._seq}",
            RESYNC,
            {"type": RESYNC, "at": datetime.now(UTC).isoformat(), "reason": reason},
        )
        return [resync]

    def unsubscribe(self, subscription: Subscription) -> None:
        with self.lock:
            self._subscribers.discard(subscription)
