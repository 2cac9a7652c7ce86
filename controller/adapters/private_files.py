"""Writing secrets to disk: a 0600 file replaced atomically, durable before it is visible.

Shared by the adapters that keep keys and certificates (ACME account, served certificates).
"""

import os
from pathlib import Path

PRIVATE_MODE = 0o600


def write_private_file(path: Path, data: bytes) -> None:
    """Write a 0600 file next to `path`, fsync it, then rename it over `path`."""
    staged = path.with_name(path.name + ".new")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(staged, PRIVATE_MODE)  # an older file of that name may have had other bits
    os.replace(staged, path)
