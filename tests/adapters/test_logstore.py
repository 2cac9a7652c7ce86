"""File-backed deploy logs."""

import threading
from pathlib import Path

import pytest

from controller.adapters.logstore import FileDeployLogStore
from controller.domain.errors import InvalidInput

DEPLOY = "0123abcd"


def test_append_read_delete(tmp_path: Path) -> None:
    logs = FileDeployLogStore(tmp_path / "logs")
    assert logs.read(DEPLOY) == []
    logs.append(DEPLOY, "-----> Building")
    logs.append(DEPLOY, "done\n")
    logs.append(DEPLOY, "")
    assert logs.read(DEPLOY) == ["-----> Building", "done", ""]
    assert (tmp_path / "logs" / f"{DEPLOY}.log").read_text() == "-----> Building\ndone\n\n"
    logs.delete(DEPLOY)
    assert logs.read(DEPLOY) == []
    logs.delete(DEPLOY)


def test_logs_survive_a_new_instance(tmp_path: Path) -> None:
    FileDeployLogStore(tmp_path).append(DEPLOY, "persisted")
    assert FileDeployLogStore(tmp_path).read(DEPLOY) == ["persisted"]


@pytest.mark.parametrize(
    "deploy_id",
    ["../../etc/passwd", "0123abc", "0123ABCD", "0123abcd\n", "0123abcd.log", "", "a" * 65, "0123abcg"],
)
def test_invalid_ids_are_refused(tmp_path: Path, deploy_id: str) -> None:
    logs = FileDeployLogStore(tmp_path)
    calls = (
        lambda: logs.append(deploy_id, "x"),
        lambda: logs.read(deploy_id),
        lambda: logs.delete(deploy_id),
    )
    for call in calls:
        with pytest.raises(InvalidInput, match="invalid deploy id"):
            call()
    assert list(tmp_path.iterdir()) == []


def test_concurrent_appends_keep_whole_lines(tmp_path: Path) -> None:
    logs = FileDeployLogStore(tmp_path)
    line = "x" * 10_000

    def write(worker: int) -> None:
        for step in range(50):
            logs.append(DEPLOY, f"{worker}:{step}:{line}")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = logs.read(DEPLOY)
    assert len(lines) == 8 * 50
    assert all(entry.endswith(line) for entry in lines)
    for worker in range(8):
        steps = [int(e.split(":")[1]) for e in lines if e.startswith(f"{worker}:")]
        assert steps == list(range(50))
