"""An in-process event bus: deploy and app state changes, fanned out to live subscribers.

Publishing never blocks: each subscriber has a bounded buffer that drops its oldest events
when the subscriber does not keep up, so a slow or vanished client cannot slow a deploy.
"""

import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

BUFFER = 1000


class Subscription:
    """One subscriber's buffer; `drain` returns what arrived since the last call."""

    def __init__(self, bus: "EventBus") -> None:
        self._bus = bus
        self._events: deque[dict[str, Any]] = deque(maxlen=BUFFER)
        self.dropped = 0

    def _push(self, event: dict[str, Any]) -> None:
        if len(self._events) == BUFFER:
            self.dropped += 1
        self._events.append(event)

    def drain(self) -> list[dict[str, Any]]:
        with self._bus.lock:
            events = list(self._events)
            self._events.clear()
        return events

    def close(self) -> None:
        self._bus.unsubscribe(self)


class EventBus:
    """Thread-safe fan-out of small JSON-able dicts."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._subscribers: set[Subscription] = set()

    def publish(self, event_type: str, /, **data: Any) -> None:
        event = {"type": event_type, "at": datetime.now(UTC).isoformat(), **data}
        with self.lock:
            for subscriber in self._subscribers:
                subscriber._push(event)

    def subscribe(self) -> Subscription:
        subscription = Subscription(self)
        with self.lock:
            self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self.lock:
            self._subscribers.discard(subscription)
