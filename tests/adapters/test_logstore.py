"""File-backed deploy logs."""

import threading
import tracemalloc
from pathlib import Path

import pytest

from controller.adapters.logstore import FileDeployLogStore
from controller.domain.errors import InvalidInput
from controller.services.deploy_logs import DeployLogHub

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


def _disk_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.iterdir())


def test_a_long_log_keeps_its_head_and_tail_within_its_cap(tmp_path: Path) -> None:
    logs = FileDeployLogStore(tmp_path, max_bytes=64 * 1024)
    lines = [f"line {n:06d} " + "x" * 50 for n in range(20_000)]  # ~1.2 MB
    for line in lines:
        logs.append(DEPLOY, line)

    kept = logs.read(DEPLOY)

    assert _disk_bytes(tmp_path) <= 64 * 1024
    notice = next(n for n, line in enumerate(kept) if line.startswith("[... "))
    assert "bytes of this log were left out" in kept[notice]
    assert kept[:notice] == lines[:notice]  # the head, from the first line on
    tail = kept[notice + 1 :]
    assert tail == lines[-len(tail) :]  # the tail, up to the last line
    assert len("\n".join(tail)) > 16 * 1024


def test_appends_go_on_where_the_last_instance_left_off(tmp_path: Path) -> None:
    first = FileDeployLogStore(tmp_path, max_bytes=64 * 1024)
    for n in range(5_000):
        first.append(DEPLOY, f"first {n:05d} " + "y" * 40)
    second = FileDeployLogStore(tmp_path, max_bytes=64 * 1024)
    second.append(DEPLOY, "after the restart")

    assert second.size(DEPLOY) == first.size(DEPLOY) + len("after the restart\n")
    assert second.read(DEPLOY)[-2:] == [f"first {4999:05d} " + "y" * 40, "after the restart"]
    assert _disk_bytes(tmp_path) <= 64 * 1024


def test_a_follower_reads_on_from_its_cursor_and_is_told_what_it_missed(tmp_path: Path) -> None:
    logs = FileDeployLogStore(tmp_path, max_bytes=64 * 1024)
    logs.append(DEPLOY, "first")
    seen, cursor = logs.read_from(DEPLOY, 0)
    assert seen == ["first"]
    for n in range(10_000):
        logs.append(DEPLOY, f"more {n}")

    caught_up: list[str] = []
    while True:
        more, cursor = logs.read_from(DEPLOY, cursor, limit=4096)
        if not more:
            break
        caught_up.extend(more)

    assert caught_up[0] == "more 0"  # the rest of the head
    assert any("left out" in line for line in caught_up)
    assert caught_up[-1] == "more 9999"
    assert cursor == logs.size(DEPLOY)


def test_an_overlong_line_is_cut(tmp_path: Path) -> None:
    logs = FileDeployLogStore(tmp_path)
    logs.append(DEPLOY, "z" * 1_000_000)
    (line,) = logs.read(DEPLOY)
    assert line.endswith("[... line cut]")
    assert len(line) < 20_000


def test_a_build_of_many_lines_holds_none_of_them_in_memory(tmp_path: Path) -> None:
    hub = DeployLogHub(FileDeployLogStore(tmp_path, max_bytes=256 * 1024))
    hub.open(DEPLOY)
    tracemalloc.start()
    try:
        for n in range(100_000):  # ~8 MB of log
            hub.append(DEPLOY, f"step {n:06d}: " + "compiling " * 6)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    hub.finish(DEPLOY)

    assert peak < 1024 * 1024
    assert current < 256 * 1024
    assert _disk_bytes(tmp_path) <= 256 * 1024
