"""`FileDeployLogStore`: deploy logs as plain text files, `<root>/<deploy id>.log`."""

import os
import re
import threading
import zlib
from pathlib import Path

from controller.domain.errors import InvalidInput

_DEPLOY_ID_RE = re.compile(r"[0-9a-f]{8,64}")
_LOCK_STRIPES = 64


class FileDeployLogStore:
    """One append-only UTF-8 file per deploy, one log line per text line.

    Appends to one file are serialised by a lock (striped, so memory stays bounded no
    matter how many deploys there are) and flushed at once, so readers such as
    `tail -f` see every line as soon as it is written.
    """

    def __init__(self, root: Path) -> None:
        self._root = root
        self._root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._locks = tuple(threading.Lock() for _ in range(_LOCK_STRIPES))

    def path_of(self, deploy_id: str) -> Path:
        """The file of `deploy_id`. Raises InvalidInput unless the id is 8-64 lowercase hex digits."""
        if not _DEPLOY_ID_RE.fullmatch(deploy_id):
            raise InvalidInput(f"invalid deploy id {deploy_id!r}: expected 8-64 lowercase hex digits")
        return self._root / f"{deploy_id}.log"

    def append(self, deploy_id: str, line: str) -> None:
        """Add `line` (a trailing newline is dropped; inner newlines start new lines)."""
        path = self.path_of(deploy_id)
        data = (line.removesuffix("\n") + "\n").encode("utf-8", errors="backslashreplace")
        with self._lock_of(deploy_id):
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)

    def read(self, deploy_id: str) -> list[str]:
        """The lines logged so far, oldest first; none for an unknown deploy."""
        path = self.path_of(deploy_id)
        with self._lock_of(deploy_id):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                return []
        return text.split("\n")[:-1]

    def delete(self, deploy_id: str) -> None:
        """Remove the log; a missing log is not an error."""
        path = self.path_of(deploy_id)
        with self._lock_of(deploy_id):
            path.unlink(missing_ok=True)

    def _lock_of(self, deploy_id: str) -> threading.Lock:
        return self._locks[zlib.crc32(deploy_id.encode()) % _LOCK_STRIPES]
