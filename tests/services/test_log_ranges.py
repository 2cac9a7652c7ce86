"""Line ranges, counts and searches of stored deploy logs: right lines, and bounded reads."""

from pathlib import Path

import pytest

from controller.adapters.logstore import READ_BYTES, FileDeployLogStore
from controller.services.deploy_logs import DeployLogHub
from controller.services.log_ranges import MAX_RANGE

LOG = "0123456789abcdef"
LINES = 20_000


class CountingStore(FileDeployLogStore):
    """The file store, counting the bytes its readers were given."""

    bytes_read = 0

    def read_from(self, deploy_id: str, cursor: int, *, limit: int = READ_BYTES) -> tuple[list[str], int]:
        lines, after = super().read_from(deploy_id, cursor, limit=limit)
        self.bytes_read += after - cursor
        return lines, after


def line(number: int) -> str:
    return f"line {number:06d} " + "x" * 100


@pytest.fixture
def hub(tmp_path: Path) -> DeployLogHub:
    hub = DeployLogHub(CountingStore(tmp_path))
    hub.open(LOG)
    for number in range(LINES):
        hub.append(LOG, line(number))
    hub.finish(LOG)
    return hub


def store_of(hub: DeployLogHub) -> CountingStore:
    store = hub._store
    assert isinstance(store, CountingStore)
    return store


def test_a_range_is_the_lines_asked_for_and_reads_a_chunk_not_the_log(hub: DeployLogHub) -> None:
    store = store_of(hub)
    assert hub.ranges.count(LOG) == (LINES, True)
    whole = store.bytes_read
    assert whole > 8 * READ_BYTES  # the log spans many chunks; the index was built in one pass
    store.bytes_read = 0
    got = hub.ranges.lines(LOG, 12_345, 12_845)
    assert got.lines == [line(n) for n in range(12_345, 12_845)]
    assert (got.start, got.stop, got.total, got.complete) == (12_345, 12_845, LINES, True)
    assert store.bytes_read <= 2 * READ_BYTES
    store.bytes_read = 0
    assert hub.ranges.tail(LOG, 3).lines == [line(n) for n in range(LINES - 3, LINES)]
    assert hub.ranges.count(LOG) == (LINES, True)
    assert store.bytes_read <= 2 * READ_BYTES  # a finished log's index is not rebuilt


def test_ranges_are_clamped_to_the_log_and_to_a_maximum(hub: DeployLogHub) -> None:
    assert hub.ranges.lines(LOG, -5, 2).lines == [line(0), line(1)]
    assert hub.ranges.lines(LOG, LINES - 1, LINES + 50).lines == [line(LINES - 1)]
    assert hub.ranges.lines(LOG, LINES + 10, LINES + 20).lines == []
    assert hub.ranges.lines(LOG, 9, 3).lines == []
    assert len(hub.ranges.lines(LOG, 0, LINES).lines) == MAX_RANGE


def test_search_returns_line_numbers_case_insensitively_and_stops_at_its_limit(hub: DeployLogHub) -> None:
    found = hub.ranges.search(LOG, "LINE 012345")
    assert [(hit.number, hit.line) for hit in found.hits] == [(12_345, line(12_345))]
    assert (found.total, found.more) == (LINES, False)
    many = hub.ranges.search(LOG, "line 0199", limit=10)
    assert [hit.number for hit in many.hits] == list(range(19_900, 19_910))
    assert many.more
    assert [hit.number for hit in hub.ranges.search(LOG, "line 0199", start=19_995).hits] == list(
        range(19_995, 20_000)
    )
    assert hub.ranges.search(LOG, "").hits == []
    assert hub.ranges.search(LOG, "not there").hits == []


def test_a_live_log_is_indexed_as_it_grows_and_a_cursor_found_for_any_line(tmp_path: Path) -> None:
    hub = DeployLogHub(FileDeployLogStore(tmp_path))
    hub.open(LOG)
    assert hub.ranges.count(LOG) == (0, False)
    hub.append(LOG, "one\ntwo")
    assert hub.ranges.count(LOG) == (2, False)
    hub.append(LOG, "three")
    assert hub.ranges.lines(LOG, 1, 10).lines == ["two", "three"]
    cursor, number, skip = hub.ranges.cursor_of(LOG, 2)
    lines, _ = FileDeployLogStore(tmp_path).read_from(LOG, cursor)
    assert lines[skip:] == ["three"] and number + skip == 2
    assert hub.ranges.cursor_of(LOG, 99)[1:] == (3, 0)
    hub.finish(LOG)
    assert hub.ranges.count(LOG) == (3, True)
    hub.discard(LOG)
    assert hub.ranges.count(LOG) == (0, True)


def test_an_unknown_log_has_no_lines(tmp_path: Path) -> None:
    hub = DeployLogHub(FileDeployLogStore(tmp_path))
    assert hub.ranges.count("feedbeef") == (0, True)
    assert hub.ranges.lines("feedbeef", 0, 10).lines == []
