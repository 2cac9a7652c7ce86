"""The git user's files: authorized_keys shared by several controllers on one host."""

import threading
from pathlib import Path

from controller.adapters.git_access import GitUserFiles


def test_concurrent_updates_of_authorized_keys_lose_nothing(tmp_path: Path) -> None:
    """Two controllers adding lines at the same time: every line of both ends up in the file."""
    keys = tmp_path / "ssh" / "authorized_keys"
    rounds = 40

    def writer(tag: str) -> None:
        files = GitUserFiles(authorized_keys=keys, hook_config=tmp_path / f"{tag}.json", owner=None)
        for n in range(rounds):

            def append(text: str, n: int = n) -> str:
                return text + f"{tag} {n}\n"

            files.update_authorized_keys(append)

    threads = [threading.Thread(target=writer, args=(tag,)) for tag in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = keys.read_text().splitlines()
    assert sorted(lines) == sorted(f"{tag} {n}" for tag in ("a", "b") for n in range(rounds))
    assert keys.stat().st_mode & 0o777 == 0o600
