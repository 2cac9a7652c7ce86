"""Deploy logs reach followers through the store, with a cursor, and hold no lines in memory."""

from controller.services.deploy_logs import DeployLogHub, LogChunk


class MemoryLogStore:
    """Lines in a list; the cursor is a line index."""

    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = {}

    def append(self, deploy_id: str, line: str) -> None:
        self.lines.setdefault(deploy_id, []).append(line)

    def size(self, deploy_id: str) -> int:
        return len(self.lines.get(deploy_id, []))

    def read_from(self, deploy_id: str, cursor: int) -> tuple[list[str], int]:
        lines = self.lines.get(deploy_id, [])[cursor : cursor + 2]
        return lines, cursor + len(lines)

    def read(self, deploy_id: str) -> list[str]:
        return list(self.lines.get(deploy_id, []))

    def delete(self, deploy_id: str) -> None:
        self.lines.pop(deploy_id, None)


def test_followers_read_from_a_cursor_until_finished() -> None:
    store = MemoryLogStore()
    hub = DeployLogHub(store)
    hub.open("d1")
    assert hub.read_from("d1", 0) == LogChunk([], 0, complete=False)
    assert not hub.has_news("d1", 0)
    hub.append("d1", "one\ntwo\nthree")
    assert hub.has_news("d1", 0)
    first = hub.read_from("d1", 0)
    assert first == LogChunk(["one", "two"], 2, complete=False)
    assert hub.read_from("d1", first.cursor) == LogChunk(["three"], 3, complete=False)
    assert not hub.has_news("d1", 3)
    hub.finish("d1")
    assert hub.has_news("d1", 3)
    assert hub.read_from("d1", 3) == LogChunk([], 3, complete=True)
    assert store.read("d1") == ["one", "two", "three"]


def test_unknown_live_log_falls_back_to_the_store() -> None:
    store = MemoryLogStore()
    store.append("old", "persisted")
    hub = DeployLogHub(store)
    assert hub.has_news("old", 0)
    assert hub.read_from("old", 0) == LogChunk(["persisted"], 1, complete=False)
    assert hub.read_from("old", 1) == LogChunk([], 1, complete=True)


def test_the_log_of_a_new_deploy_is_opened_without_a_look_at_the_store() -> None:
    class Untouched(MemoryLogStore):
        def size(self, deploy_id: str) -> int:
            raise AssertionError("a new deploy's log was looked at")

    hub = DeployLogHub(Untouched())
    hub.open("d1", new=True)
    assert not hub.is_finished("d1") and not hub.has_news("d1", 0)
