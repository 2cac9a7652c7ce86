"""The event history file: what survives a restart, a torn last line, compaction, failures."""

import stat
from pathlib import Path

from controller.adapters.event_journal import FileEventJournal
from controller.services.events import EventBus


def test_a_restarted_bus_goes_on_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    first = EventBus(journal=FileEventJournal(path))
    first.publish("deploy", app="a", status="queued")
    first.publish("container", app="a", action="crashed")

    second = EventBus(journal=FileEventJournal(path))
    second.publish("deploy", app="a", status="running")
    replay = second.subscribe(after=f"{first.epoch}-1").drain()
    epoch = first.epoch
    assert [(e.id, e.type) for e in replay] == [(f"{epoch}-2", "container"), (f"{epoch}-3", "deploy")]
    assert replay[0].data["action"] == "crashed"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    bus = EventBus(journal=FileEventJournal(path))
    bus.publish("deploy", n=1)
    with path.open("a") as out:
        out.write('{"id": "x-2", "type": "dep')  # the controller was killed mid-write
    epoch, events = FileEventJournal(path).load()
    assert epoch == bus.epoch and [e.data["n"] for e in events] == [1]
    resumed = EventBus(journal=FileEventJournal(path))
    resumed.publish("deploy", n=2)
    assert [e.data["n"] for e in resumed.subscribe(after=f"{bus.epoch}-0").drain()] == [1, 2]


def test_no_file_or_a_garbage_file_starts_a_new_history(tmp_path: Path) -> None:
    assert FileEventJournal(tmp_path / "none.jsonl").load() == (None, [])
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("not json\n[1, 2]\n")
    assert FileEventJournal(garbage).load() == (None, [])
    bus = EventBus(journal=FileEventJournal(garbage))
    bus.publish("deploy")
    assert FileEventJournal(garbage).load()[0] == bus.epoch


def test_a_failing_disk_loses_history_not_events(tmp_path: Path) -> None:
    directory = tmp_path / "data"
    directory.mkdir()
    bus = EventBus(journal=FileEventJournal(directory / "events.jsonl"))
    subscription = bus.subscribe()
    (directory / "events.jsonl").unlink()
    directory.rmdir()  # the data dir went away
    bus.publish("deploy", n=1)
    assert [e.data["n"] for e in subscription.drain()] == [1]
