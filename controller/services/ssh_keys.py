"""SSH keys allowed to push: stored, and mirrored into the git user's authorized_keys."""

from datetime import UTC, datetime

from controller.domain.errors import NotFound
from controller.domain.git_records import SshKey
from controller.domain.ssh_keys import (
    authorized_keys_line,
    merge_authorized_keys,
    parse_public_key,
    validate_key_name,
)
from controller.services.git_ports import GitStore, GitUserFiles


class SshKeyService:
    """`dockyard keys add|list|remove`; every change rewrites its lines of authorized_keys."""

    def __init__(
        self, *, store: GitStore, files: GitUserFiles, executable: str, data_dir: str, instance: str
    ) -> None:
        self._store = store
        self._files = files
        self._executable = executable
        self._data_dir = data_dir
        self._instance = instance

    def add(self, name: str, public_key: str, *, owner: str | None = None) -> SshKey:
        """Allow a key to push, with the rights of `owner` (a user; None: an admin's key)."""
        validate_key_name(name)
        parsed = parse_public_key(public_key)
        key = SshKey(
            name=name,
            key_type=parsed.key_type,
            key_data=parsed.key_data,
            fingerprint=parsed.fingerprint,
            created_at=datetime.now(UTC),
            owner=owner,
        )
        self._store.add_ssh_key(key)
        try:
            self.sync()
        except BaseException:
            self._store.remove_ssh_key(name)
            raise
        return key

    def all(self) -> list[SshKey]:
        return self._store.list_ssh_keys()

    def remove(self, name: str) -> None:
        validate_key_name(name)
        if not any(key.name == name for key in self._store.list_ssh_keys()):
            raise NotFound(f"no SSH key named {name!r}")
        self._store.remove_ssh_key(name)
        self.sync()

    def sync(self) -> None:
        """Make this controller's lines of authorized_keys one forced-command line per stored key.

        The file may be shared (another controller, keys a person added): only lines
        marked with this controller's instance id are replaced.
        """
        own = [
            authorized_keys_line(
                executable=self._executable,
                data_dir=self._data_dir,
                name=key.name,
                key_type=key.key_type,
                key_data=key.key_data,
            )
            for key in self._store.list_ssh_keys()
        ]
        self._files.update_authorized_keys(
            lambda existing: merge_authorized_keys(
                existing, instance=self._instance, data_dir=self._data_dir, own=own
            )
        )
