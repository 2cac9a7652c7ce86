"""`FileDeployLogStore`: deploy logs as plain text files, capped to their head and tail.

A deploy's log is one logical stream of UTF-8 lines. Its first `max_bytes / 4` are kept
in `<root>/<deploy id>.log` (the head); after that, lines go to tail segments
`<deploy id>.tail.<offset>` (named by where they start in the logical stream) of
`3 * max_bytes / 8` each, and only the newest two segments are kept. So a log never takes
more than `max_bytes` on disk, a reader is told how much was left out in between, and
nothing about a log is held in memory but its length.

Readers use byte offsets in the logical stream as cursors, so reading on from where
one left off is a seek, never a scan.
"""

import os
import re
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

from controller.domain.errors import InvalidInput

_DEPLOY_ID_RE = re.compile(r"[0-9a-f]{8,64}")
_LOCK_STRIPES = 64
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
MAX_LINE_BYTES = 16 * 1024
READ_BYTES = 256 * 1024
KEPT_SEGMENTS = 2
_CACHED_WRITERS = 256


@dataclass
class _Writer:
    """Where the next line of one log goes (derivable from the files, cached)."""

    end: int  # logical length of the log so far
    segment: int | None  # logical start of the current tail segment; None while in the head


class FileDeployLogStore:
    """Append-only, capped deploy logs; appends to one log are serialised by a lock.

    Each append opens, writes and closes its file, so readers such as `tail -f` see every
    line as soon as it is written.
    """

    def __init__(self, root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._root = root
        self._root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._locks = tuple(threading.Lock() for _ in range(_LOCK_STRIPES))
        self._head_bytes = max(1, max_bytes // 4)
        self._segment_bytes = max(1, max_bytes * 3 // 8)
        self._writers: dict[str, _Writer] = {}
        self._writers_lock = threading.Lock()

    def path_of(self, deploy_id: str) -> Path:
        """The file of `deploy_id`. Raises InvalidInput unless the id is 8-64 lowercase hex digits."""
        _check_id(deploy_id)
        return self._root / f"{deploy_id}.log"

    def append(self, deploy_id: str, line: str) -> None:
        """Add `line` (a trailing newline is dropped; inner newlines start new lines)."""
        _check_id(deploy_id)
        data = _encoded(line)
        with self._lock_of(deploy_id):
            writer = self._writer(deploy_id)
            if writer.segment is None and writer.end + len(data) > self._head_bytes and writer.end > 0:
                writer.segment = writer.end
            elif writer.segment is not None and writer.end - writer.segment + len(data) > self._segment_bytes:
                writer.segment = writer.end
                self._drop_old_segments(deploy_id)
            # Plain strings, not Paths: pathlib interns every new name it parses.
            name = f"{deploy_id}.log" if writer.segment is None else f"{deploy_id}.tail.{writer.segment}"
            fd = os.open(os.path.join(self._root, name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            writer.end += len(data)

    def size(self, deploy_id: str) -> int:
        """The logical length of the log: the cursor at its end."""
        with self._lock_of(deploy_id):
            return self._writer(deploy_id).end

    def read_from(self, deploy_id: str, cursor: int, *, limit: int = READ_BYTES) -> tuple[list[str], int]:
        """About `limit` bytes of whole lines from `cursor` on, and the cursor after them.

        Where the tail was cut, the first line returned says how much was left out.
        """
        path = self.path_of(deploy_id)
        limit = max(limit, 2 * MAX_LINE_BYTES)  # room for at least one whole line
        with self._lock_of(deploy_id):
            head_size = _size_or_zero(path)
            segments = self._segments(deploy_id)
            if cursor < head_size:
                return _read_lines(path, cursor, cursor, limit)
            if not segments:
                return [], cursor
            first = segments[0]
            if cursor < first:
                omitted = first - cursor
                notice = (
                    f"[... {omitted} bytes of this log were left out: it keeps its first "
                    f"{self._head_bytes} and last {KEPT_SEGMENTS * self._segment_bytes} bytes ...]"
                )
                lines, after = self._read_segment(deploy_id, segments, first, limit)
                return [notice, *lines], after
            return self._read_segment(deploy_id, segments, cursor, limit)

    def read(self, deploy_id: str) -> list[str]:
        """The lines kept, oldest first (with the notice of what was left out); none if unknown."""
        lines: list[str] = []
        cursor = 0
        while True:
            more, cursor = self.read_from(deploy_id, cursor)
            if not more:
                return lines
            lines.extend(more)

    def delete(self, deploy_id: str) -> None:
        """Remove the log; a missing log is not an error."""
        path = self.path_of(deploy_id)
        with self._lock_of(deploy_id):
            path.unlink(missing_ok=True)
            for start in self._segments(deploy_id):
                self._segment_path(deploy_id, start).unlink(missing_ok=True)
            with self._writers_lock:
                self._writers.pop(deploy_id, None)

    def _read_segment(
        self, deploy_id: str, segments: list[int], cursor: int, limit: int
    ) -> tuple[list[str], int]:
        start = max(s for s in segments if s <= cursor)
        path = self._segment_path(deploy_id, start)
        size = _size_or_zero(path)
        if cursor - start >= size:
            later = [s for s in segments if s > start]
            if not later:
                return [], cursor
            start = later[0]
            path = self._segment_path(deploy_id, start)
        return _read_lines(path, max(cursor, start) - start, max(cursor, start), limit)

    def _writer(self, deploy_id: str) -> _Writer:
        """The append state of a log (called under its lock): cached, or found from its files."""
        with self._writers_lock:
            writer = self._writers.get(deploy_id)
        if writer is None:
            head = _size_or_zero(self.path_of(deploy_id))
            # Tail segments come after a head: a new log (no head) needs no scan of the directory.
            segments = self._segments(deploy_id) if head else []
            if segments:
                last = segments[-1]
                writer = _Writer(end=last + _size_or_zero(self._segment_path(deploy_id, last)), segment=last)
            else:
                writer = _Writer(end=head, segment=None)
            with self._writers_lock:
                if len(self._writers) >= _CACHED_WRITERS:
                    self._writers.pop(next(iter(self._writers)))
                self._writers[deploy_id] = writer
        return writer

    def _segments(self, deploy_id: str) -> list[int]:
        """The logical starts of the log's tail segments, oldest first."""
        prefix = f"{deploy_id}.tail."
        names = (path.name[len(prefix) :] for path in self._root.glob(prefix + "*"))
        return sorted(int(name) for name in names if name.isdigit())

    def _segment_path(self, deploy_id: str, start: int) -> Path:
        return self._root / f"{deploy_id}.tail.{start}"

    def _drop_old_segments(self, deploy_id: str) -> None:
        segments = self._segments(deploy_id)
        for start in segments[: max(0, len(segments) - (KEPT_SEGMENTS - 1))]:
            self._segment_path(deploy_id, start).unlink(missing_ok=True)

    def _lock_of(self, deploy_id: str) -> threading.Lock:
        return self._locks[zlib.crc32(deploy_id.encode()) % _LOCK_STRIPES]


def _check_id(deploy_id: str) -> None:
    if not _DEPLOY_ID_RE.fullmatch(deploy_id):
        raise InvalidInput(f"invalid deploy id {deploy_id!r}: expected 8-64 lowercase hex digits")


def _encoded(line: str) -> bytes:
    data = line.removesuffix("\n").encode("utf-8", errors="backslashreplace")
    if len(data) > MAX_LINE_BYTES:
        data = data[:MAX_LINE_BYTES] + b" [... line cut]"
    return data + b"\n"


def _size_or_zero(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _read_lines(path: Path, offset: int, cursor: int, limit: int) -> tuple[list[str], int]:
    """Whole lines from `offset` of `path` (about `limit` bytes); `cursor` is where that is."""
    try:
        with path.open("rb") as file:
            file.seek(offset)
            data = file.read(limit)
    except FileNotFoundError:
        return [], cursor
    end = data.rfind(b"\n") + 1
    if end == 0:
        return [], cursor
    text = data[:end].decode("utf-8", errors="replace")
    return text.split("\n")[:-1], cursor + end
