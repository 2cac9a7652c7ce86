"""Line ranges of stored deploy logs, without reading a whole log per request.

A log's lines are numbered from 0 in the order a reader from cursor 0 gets them (a log cut
to its head and tail has its notice of what was left out as one line). `LogRanges` keeps,
per log, an index of marks: the line number and store cursor where each chunk read from the
store began. It is built once by one pass over the log, extended by reading only what was
appended since (a live log), and kept for the most recently used logs. A range of lines is
then one seek to the mark before it and a read of at most a chunk or two.

A live log longer than the store's cap loses its middle while it is written; marks into the
part left out then read back the store's notice and what follows it. Finished logs, the
ones people read at length, keep stable line numbers.
"""

import bisect
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from controller.services.ports import DeployLogStore

KEEP_INDEXES = 64  # logs whose index is kept (a few thousand bytes each)
MAX_RANGE = 5_000  # lines in one range
MAX_HITS = 200  # matches one search returns
MAX_QUERY = 200  # characters of a search


@dataclass
class _Index:
    lines: int = 0  # lines indexed so far
    end: int = 0  # the store's cursor after them
    starts: list[int] = field(default_factory=list)  # line numbers where chunks begin
    cursors: list[int] = field(default_factory=list)  # the cursor each chunk was read from
    sealed: bool = False  # the log was finished when last extended: nothing more will come
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class LineRange:
    """Lines `start` to `stop` (exclusive) of a log of `total` lines so far."""

    start: int
    lines: list[str]
    total: int
    complete: bool  # the log is finished: `total` is final

    @property
    def stop(self) -> int:
        return self.start + len(self.lines)


@dataclass(frozen=True)
class SearchHit:
    number: int
    line: str


@dataclass(frozen=True)
class SearchResult:
    hits: list[SearchHit]
    total: int  # lines searched
    more: bool  # more matches than returned


class LogRanges:
    """Counts, ranges and searches of deploy logs, from an index of chunk marks per log."""

    def __init__(self, store: DeployLogStore, is_finished: Callable[[str], bool]) -> None:
        self._store = store
        self._is_finished = is_finished
        self._lock = threading.Lock()
        self._indexes: OrderedDict[str, _Index] = OrderedDict()

    def count(self, deploy_id: str) -> tuple[int, bool]:
        """How many lines the log has now, and whether it is finished."""
        index = self._current(deploy_id)
        return index.lines, index.sealed

    def lines(self, deploy_id: str, start: int, stop: int) -> LineRange:
        """Lines [start, stop) (clamped to the log and to MAX_RANGE lines)."""
        index = self._current(deploy_id)
        with index.lock:
            total, sealed = index.lines, index.sealed
            start = min(max(start, 0), total)
            stop = min(max(stop, start), total, start + MAX_RANGE)
            if start == stop:
                return LineRange(start, [], total, sealed)
            slot = bisect.bisect_right(index.starts, start) - 1
            number, cursor = index.starts[slot], index.cursors[slot]
        taken: list[str] = []
        for first, chunk in self._chunks(deploy_id, number, cursor):
            if first >= stop:
                break
            taken.extend(chunk[max(start - first, 0) : stop - first])
        return LineRange(start, taken, total, sealed)

    def tail(self, deploy_id: str, count: int) -> LineRange:
        """The last `count` lines."""
        total, _ = self.count(deploy_id)
        return self.lines(deploy_id, total - count, total)

    def search(self, deploy_id: str, text: str, *, start: int = 0, limit: int = MAX_HITS) -> SearchResult:
        """Lines from `start` on containing `text` (case-insensitive), first `limit` of them."""
        needle = text[:MAX_QUERY].casefold()
        index = self._current(deploy_id)
        with index.lock:
            total = index.lines
            if not needle or start >= total:
                return SearchResult([], total, more=False)
            slot = max(bisect.bisect_right(index.starts, max(start, 0)) - 1, 0)
            number, cursor = index.starts[slot], index.cursors[slot]
        hits: list[SearchHit] = []
        for first, chunk in self._chunks(deploy_id, number, cursor):
            for offset, line in enumerate(chunk):
                at = first + offset
                if at >= total:
                    return SearchResult(hits, total, more=False)
                if at >= start and needle in line.casefold():
                    if len(hits) == limit:
                        return SearchResult(hits, total, more=True)
                    hits.append(SearchHit(at, line))
        return SearchResult(hits, total, more=False)

    def cursor_of(self, deploy_id: str, line: int) -> tuple[int, int, int]:
        """Where to read from to get line `line` on: (cursor, line number there, lines to skip)."""
        index = self._current(deploy_id)
        with index.lock:
            line = min(max(line, 0), index.lines)
            if line == index.lines:
                return index.end, line, 0
            slot = bisect.bisect_right(index.starts, line) - 1
            return index.cursors[slot], index.starts[slot], line - index.starts[slot]

    def forget(self, deploy_id: str) -> None:
        """Drop the index (the log was deleted, or is being written again)."""
        with self._lock:
            self._indexes.pop(deploy_id, None)

    def _chunks(self, deploy_id: str, number: int, cursor: int) -> Iterator[tuple[int, list[str]]]:
        """Chunks of lines read on from `cursor` (line `number`), with their first line number."""
        while True:
            lines, cursor = self._store.read_from(deploy_id, cursor)
            if not lines:
                return
            yield number, lines
            number += len(lines)

    def _current(self, deploy_id: str) -> _Index:
        """The log's index, extended by whatever was appended since it was last looked at."""
        with self._lock:
            index = self._indexes.get(deploy_id)
            if index is None:
                index = self._indexes[deploy_id] = _Index()
                while len(self._indexes) > KEEP_INDEXES:
                    self._indexes.popitem(last=False)
            else:
                self._indexes.move_to_end(deploy_id)
        with index.lock:
            if not index.sealed:
                finished = self._is_finished(deploy_id)  # before reading: lines after it are new
                while True:
                    lines, after = self._store.read_from(deploy_id, index.end)
                    if not lines:
                        break
                    index.starts.append(index.lines)
                    index.cursors.append(index.end)
                    index.lines += len(lines)
                    index.end = after
                index.sealed = finished
        return index
