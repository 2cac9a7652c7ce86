"""The event bus: ids, fan-out, and resuming after the last event a client saw."""

from collections.abc import Sequence

from controller.services.events import HISTORY, RESYNC, Event, EventBus


def test_every_event_has_an_increasing_id_of_this_process() -> None:
    bus = EventBus(epoch="e1")
    subscription = bus.subscribe()
    bus.publish("deploy", app="a")
    bus.publish("deploy", app="b")
    events = subscription.drain()
    assert [e.id for e in events] == ["e1-1", "e1-2"]
    assert [e.data["app"] for e in events] == ["a", "b"]
    assert events[0].data["type"] == "deploy" and "at" in events[0].data


def test_a_resumed_subscription_gets_exactly_what_it_missed() -> None:
    bus = EventBus(epoch="e1")
    first = bus.subscribe()
    bus.publish("deploy", n=1)
    (seen,) = first.drain()
    first.close()
    for n in (2, 3, 4):
        bus.publish("deploy", n=n)
    resumed = bus.subscribe(after=seen.id)
    bus.publish("deploy", n=5)
    assert [e.data["n"] for e in resumed.drain()] == [2, 3, 4, 5]


def test_resuming_from_the_newest_event_replays_nothing() -> None:
    bus = EventBus(epoch="e1")
    bus.publish("deploy")
    assert bus.subscribe(after="e1-1").drain() == []


def test_an_id_of_another_process_asks_the_client_to_resync() -> None:
    bus = EventBus(epoch="new")
    bus.publish("deploy")
    (event,) = bus.subscribe(after="old-7").drain()
    assert event.type == RESYNC and "restarted" in event.data["reason"]
    assert event.id == "new-1"  # resuming from it later works


def test_too_many_missed_events_ask_the_client_to_resync() -> None:
    bus = EventBus(epoch="e1")
    for _ in range(HISTORY + 5):
        bus.publish("deploy")
    (event,) = bus.subscribe(after="e1-2").drain()
    assert event.type == RESYNC and "missed" in event.data["reason"]
    # The oldest event still kept is resumable: everything after it is there.
    oldest_kept = HISTORY + 5 - HISTORY + 1
    assert len(bus.subscribe(after=f"e1-{oldest_kept - 1}").drain()) == HISTORY


def test_garbage_and_future_ids_resync_instead_of_failing() -> None:
    bus = EventBus(epoch="e1")
    bus.publish("deploy")
    for after in ("nonsense", "e1-", "e1-99", "-1", "e1--3"):
        assert [e.type for e in bus.subscribe(after=after).drain()] == [RESYNC], after


class MemoryJournal:
    """An EventJournal in memory: what a file would hold across restarts."""

    def __init__(self) -> None:
        self.epoch: str | None = None
        self.events: list[Event] = []
        self.rewrites = 0

    def load(self) -> tuple[str | None, list[Event]]:
        return self.epoch, list(self.events)

    def append(self, event: Event) -> None:
        self.events.append(event)

    def rewrite(self, epoch: str, events: Sequence[Event]) -> None:
        self.epoch, self.events = epoch, list(events)
        self.rewrites += 1


def test_with_a_journal_a_client_resumes_across_a_restart() -> None:
    journal = MemoryJournal()
    before = EventBus(journal=journal)
    before.publish("deploy", n=1)
    (seen,) = before.subscribe(after=f"{before.epoch}-0").drain()
    before.publish("deploy", n=2)

    after = EventBus(journal=journal)  # the controller restarted
    after.publish("deploy", n=3)
    assert after.epoch == before.epoch
    assert [e.data["n"] for e in after.subscribe(after=seen.id).drain()] == [2, 3]
    assert [e.id for e in journal.events] == [f"{before.epoch}-{n}" for n in (1, 2, 3)]


def test_the_journal_is_compacted_to_the_history() -> None:
    journal = MemoryJournal()
    bus = EventBus(journal=journal)
    for _ in range(HISTORY + 10):
        bus.publish("deploy")
    assert journal.rewrites == 2  # the new history's header, then one compaction
    assert len(journal.events) <= HISTORY + 10 and journal.events[-1].id == f"{bus.epoch}-{HISTORY + 10}"
    restarted = EventBus(journal=journal)
    assert len(restarted.subscribe(after=f"{bus.epoch}-{10}").drain()) == HISTORY
