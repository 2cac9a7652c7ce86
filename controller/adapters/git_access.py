"""What the git user's programs read (its authorized_keys; the controller's address and the hook
token), written atomically with the right owner; and Dockyard-generated SSH deploy keys.
"""

import json
import logging
import os
import pwd
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.domain.git_records import FileOwner

PRIVATE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
logger = logging.getLogger(__name__)


def find_git_user(name: str) -> FileOwner | None:
    """The git user's uid/gid when this process may hand files to it (runs as root), else None."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        logger.warning("git user %r does not exist: SSH pushes cannot work (install.sh creates it)", name)
        return None
    return FileOwner(uid=entry.pw_uid, gid=entry.pw_gid)


def home_of(name: str) -> Path | None:
    try:
        return Path(pwd.getpwnam(name).pw_dir)
    except KeyError:
        return None


class GitUserFiles:
    """The git user's authorized_keys and the hook's config, each private to that user."""

    def __init__(self, *, authorized_keys: Path, hook_config: Path, owner: FileOwner | None) -> None:
        self._authorized_keys = authorized_keys
        self._hook_config = hook_config
        self._owner = owner

    def write_authorized_keys(self, lines: Sequence[str]) -> None:
        """Replace the whole file (Dockyard owns it) with `lines`."""
        header = "# Managed by Dockyard (`dockyard keys`): edits here are overwritten.\n"
        self._write(self._authorized_keys, header + "".join(line + "\n" for line in lines))

    def write_hook_config(self, *, url: str, token: str) -> None:
        """Where the pre-receive hook and git-shell reach the controller, and their token."""
        self._write(self._hook_config, json.dumps({"url": url, "token": token}) + "\n")

    def _write(self, path: Path, text: str) -> None:
        if not path.parent.exists():
            path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True)
            if self._owner is not None:
                os.chown(path.parent, self._owner.uid, self._owner.gid)
        temporary = path.with_name(f".{path.name}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, PRIVATE_MODE)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            os.fchmod(handle.fileno(), PRIVATE_MODE)
            if self._owner is not None:
                os.fchown(handle.fileno(), self._owner.uid, self._owner.gid)
        os.replace(temporary, path)


def generate_deploy_key(comment: str) -> tuple[str, str]:
    """A new ed25519 key pair: (OpenSSH private key, `ssh-ed25519 AAAA... comment` public line)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, f"{public.decode()} {comment}"
