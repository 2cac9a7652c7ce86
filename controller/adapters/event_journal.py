"""The event history in a file: one JSON object per line, appended as events are published.

The first line names the history's epoch (`{"epoch": "..."}`); every other line is an event
(`{"id": ..., "type": ..., "data": {...}}`). Each line is written and flushed whole, so a
controller killed at any moment leaves at most a torn last line, which `load` skips. The bus
rewrites the file with its kept events from time to time (a temporary file renamed over the
old one), so the file stays bounded.

A write that fails (disk full, the data dir removed) is logged once and skipped: the event
still reaches live subscribers, it is only missing from the history after a restart.
"""

import contextlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from controller.services.events import Event

logger = logging.getLogger(__name__)

FILE_MODE = 0o600


class FileEventJournal:
    """An append-only JSON-lines file of events (EventJournal)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self._failed = False

    def load(self) -> tuple[str | None, list[Event]]:
        try:
            lines = self._path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return None, []
        except OSError as exc:
            logger.warning("event history %s not read: %s", self._path, exc)
            return None, []
        header = _parse(lines[0]) if lines else None
        epoch = header.get("epoch") if header else None
        if not isinstance(epoch, str) or not epoch:
            return None, []
        events = [event for line in lines[1:] if (event := _event_of(_parse(line))) is not None]
        return epoch, events

    def append(self, event: Event) -> None:
        self._write(_line(event))

    def rewrite(self, epoch: str, events: Sequence[Event]) -> None:
        with self._lock:
            self._close()
            temporary = self._path.with_name(self._path.name + ".tmp")
            try:
                fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(json.dumps({"epoch": epoch}) + "\n")
                    out.writelines(_line(event) for event in events)
                os.replace(temporary, self._path)
            except OSError as exc:
                self._fail(exc)

    def close(self) -> None:
        with self._lock:
            self._close()

    def _write(self, text: str) -> None:
        with self._lock:
            try:
                if self._file is None:
                    fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
                    self._file = os.fdopen(fd, "a", encoding="utf-8")
                self._file.write(text)
                self._file.flush()
                self._failed = False
            except OSError as exc:
                self._close()
                self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        if not self._failed:  # once per run of failures, not once per event
            logger.warning("event history %s not written: %s", self._path, exc)
        self._failed = True

    def _close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None


def _line(event: Event) -> str:
    return json.dumps({"id": event.id, "type": event.type, "data": event.data}, separators=(",", ":")) + "\n"


def _parse(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _event_of(value: dict[str, Any] | None) -> Event | None:
    if value is None:
        return None
    event_id, event_type, data = value.get("id"), value.get("type"), value.get("data")
    if isinstance(event_id, str) and isinstance(event_type, str) and isinstance(data, dict):
        return Event(event_id, event_type, data)
    return None
