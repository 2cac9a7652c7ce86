"""Symmetric encryption of secrets at rest (config values), with a key file created once."""

import contextlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from controller.domain.errors import DockyardError

KEY_FILE_MODE = 0o600


class SecretKeyMismatch(DockyardError):
    """Stored data was encrypted with another key than the one loaded (or was altered)."""


class Cipher:
    """Encrypts and authenticates text with Fernet (AES-128-CBC + HMAC-SHA256)."""

    def __init__(self, key: bytes) -> None:
        """Args: key: a urlsafe-base64 32-byte Fernet key. Raises ValueError when malformed."""
        self._fernet = Fernet(key)

    @classmethod
    def from_key_file(cls, path: Path) -> "Cipher":
        """Load the key at `path`, creating it (mode 0600) on first use.

        The key is written to a private temporary file and then hard-linked into place,
        so the file is never readable by others and never seen half-written, even when
        two processes start at once: the loser of the race loads the winner's key.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            _create_key_file(path, Fernet.generate_key())
        key = path.read_bytes().strip()
        try:
            return cls(key)
        except ValueError as exc:
            raise ValueError(f"{path} does not hold a valid secret key: {exc}") from exc

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Raises SecretKeyMismatch when the token was not made with this key."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeEncodeError) as exc:
            raise SecretKeyMismatch(
                "cannot decrypt stored secrets: the secret key differs from the one they were "
                "encrypted with, or the data was altered"
            ) from exc


def _create_key_file(path: Path, key: bytes) -> None:
    staging = path.with_name(f".{path.name}.{os.urandom(8).hex()}.tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
    try:
        # The umask may have narrowed the mode; make it exactly 0600.
        os.fchmod(fd, KEY_FILE_MODE)
        os.write(fd, key + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        with contextlib.suppress(FileExistsError):
            os.link(staging, path)
    finally:
        staging.unlink()
