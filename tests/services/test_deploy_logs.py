"""Deploy logs reach followers from memory and stay readable from the store."""

from controller.services.deploy_logs import DeployLogHub


class MemoryLogStore:
    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = {}

    def append(self, deploy_id: str, line: str) -> None:
        self.lines.setdefault(deploy_id, []).append(line)

    def read(self, deploy_id: str) -> list[str]:
        return list(self.lines.get(deploy_id, []))

    def delete(self, deploy_id: str) -> None:
        self.lines.pop(deploy_id, None)


def test_followers_read_from_a_cursor_until_finished() -> None:
    store = MemoryLogStore()
    hub = DeployLogHub(store)
    hub.open("d1")
    assert hub.read_from("d1", 0) == ([], False)
    hub.append("d1", "one\ntwo")
    lines, finished = hub.read_from("d1", 0)
    assert lines == ["one", "two"] and not finished
    hub.append("d1", "three")
    hub.finish("d1")
    assert hub.read_from("d1", 2) == (["three"], True)
    assert store.read("d1") == ["one", "two", "three"]


def test_unknown_live_log_falls_back_to_the_store() -> None:
    store = MemoryLogStore()
    store.append("old", "persisted")
    hub = DeployLogHub(store)
    assert hub.read_from("old", 0) == (["persisted"], True)
