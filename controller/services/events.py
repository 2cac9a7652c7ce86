"""An in-process event bus: deploy and app state changes, fanned out to live subscribers.

Publishing never blocks: each subscriber has a bounded buffer that drops its oldest events
when the subscriber does not keep up, so a slow or vanished client cannot slow a deploy.

Every event gets an id `<epoch>-<seq>`: `seq` counts up within this controller process and
`epoch` names the process. The bus keeps the last HISTORY events, so a client that lost its
connection resumes after the last id it saw (SSE's Last-Event-ID) and gets exactly what it
missed. When that is not possible (the controller restarted, or more than HISTORY events
passed), the client first gets a `resync` event: refetch the state, then follow on.
"""

import secrets
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

BUFFER = 1000
HISTORY = 1000
RESYNC = "resync"


@dataclass(frozen=True)
class Event:
    """One published event: its resumable id, its type and its JSON-able body."""

    id: str
    type: str
    data: dict[str, Any]


class Subscription:
    """One subscriber's buffer; `drain` returns what arrived since the last call."""

    def __init__(self, bus: "EventBus", backlog: list[Event]) -> None:
        self._bus = bus
        self._events: deque[Event] = deque(backlog, maxlen=BUFFER)
        self.dropped = 0

    def _push(self, event: Event) -> None:
        if len(self._events) == BUFFER:
            self.dropped += 1
        self._events.append(event)

    def drain(self) -> list[Event]:
        with self._bus.lock:
            events = list(self._events)
            self._events.clear()
        return events

    def close(self) -> None:
        self._bus.unsubscribe(self)


class EventBus:
    """Thread-safe fan-out of small JSON-able dicts, with the recent past kept for resumes."""

    def __init__(self, epoch: str | None = None) -> None:
        self.lock = threading.Lock()
        self.epoch = epoch or secrets.token_hex(4)
        self._seq = 0
        self._history: deque[Event] = deque(maxlen=HISTORY)
        self._subscribers: set[Subscription] = set()

    def publish(self, event_type: str, /, **data: Any) -> None:
        body = {"type": event_type, "at": datetime.now(UTC).isoformat(), **data}
        with self.lock:
            self._seq += 1
            event = Event(f"{self.epoch}-{self._seq}", event_type, body)
            self._history.append(event)
            for subscriber in self._subscribers:
                subscriber._push(event)

    def subscribe(self, after: str | None = None) -> Subscription:
        """Follow from now on; with `after` (an event id), first replay what came after it."""
        with self.lock:
            subscription = Subscription(self, self._backlog(after) if after else [])
            self._subscribers.add(subscription)
        return subscription

    def _backlog(self, after: str) -> list[Event]:
        epoch, _, seq_text = after.strip().rpartition("-")
        seq = int(seq_text) if seq_text.isdigit() else -1
        oldest = self._history[0] if self._history else None
        first_kept = int(oldest.id.rpartition("-")[2]) if oldest else self._seq + 1
        # Resumable: this process's id, not from the future, and nothing missed has been dropped.
        if epoch == self.epoch and 0 <= seq <= self._seq and seq >= first_kept - 1:
            return [e for e in self._history if int(e.id.rpartition("-")[2]) > seq]
        reason = "the controller restarted" if epoch != self.epoch else "too many events were missed"
        resync = Event(
            f"{self.epoch}-{self._seq}",
            RESYNC,
            {"type": RESYNC, "at": datetime.now(UTC).isoformat(), "reason": reason},
        )
        return [resync]

    def unsubscribe(self, subscription: Subscription) -> None:
        with self.lock:
            self._subscribers.discard(subscription)
