"""What the git user's programs read (its authorized_keys; the controller's address and the hook
token), written atomically with the right owner; and Dockyard-generated SSH deploy keys.
"""

import fcntl
import json
import logging
import os
import pwd
import subprocess
from collections.abc import Callable
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


def why_user_cannot_run(owner: FileOwner, executable: str, *, home: Path | None) -> str | None:
    """None when the user `owner` can run `executable --version` (what its hooks and sshd's
    forced command do); else why not, e.g. `Permission denied` for a virtualenv under /root.
    Needs root (it switches to that user)."""
    try:
        result = subprocess.run(
            [executable, "--version"],
            user=owner.uid,
            group=owner.gid,
            extra_groups=[],
            env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home or "/"), "LANG": "C.UTF-8"},
            cwd="/",
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    if result.returncode == 0:
        return None
    output = (result.stderr.strip() or result.stdout.strip()).splitlines()
    return output[-1] if output else f"exit status {result.returncode}"


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

    def update_authorized_keys(self, edit: Callable[[str], str]) -> None:
        """Rewrite authorized_keys as `edit` makes it from the current text ("" when missing).

        Other controllers on the host share the file: a lock next to it keeps one
        read-edit-write from undoing another's.
        """
        path = self._authorized_keys
        self._ensure_parent(path)
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW
        lock = os.open(path.with_name(f".{path.name}.lock"), flags, PRIVATE_MODE)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                current = path.read_text()
            except FileNotFoundError:
                current = ""
            text = edit(current)
            if text != current:
                self._write(path, text)
        finally:
            os.close(lock)

    def write_hook_config(self, *, url: str, token: str) -> None:
        """Where the pre-receive hook and git-shell reach the controller, and their token."""
        self._write(self._hook_config, json.dumps({"url": url, "token": token}) + "\n")

    def _ensure_parent(self, path: Path) -> None:
        try:
            path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True)
        except FileExistsError:
            return
        if self._owner is not None:
            os.chown(path.parent, self._owner.uid, self._owner.gid)

    def _write(self, path: Path, text: str) -> None:
        self._ensure_parent(path)
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
