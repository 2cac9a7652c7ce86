"""The keeper's rule: which dead containers it starts again in place, and which it leaves."""

import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest

from controller.domain.errors import DockyardError, NotFound
from controller.domain.models import ContainerInfo
from controller.services.keeper import Keeper, ServingSets, StoppedContainer, why_not_restart
from controller.wiring_keeper import _take_lock, running_keeper

SERVING = frozenset({"c1", "c2"})


def stopped(container_id: str = "c1", state: str = "exited", app: str = "web") -> StoppedContainer:
    return StoppedContainer(id=container_id, name=f"name-{container_id}", app=app, state=state)


class FakeStarter:
    def __init__(self, error: DockyardError | None = None) -> None:
        self.started: list[str] = []
        self.error = error

    def start_container(self, container_id: str) -> None:
        if self.error is not None:
            raise self.error
        self.started.append(container_id)


def test_a_serving_container_stopped_through_the_api_is_started_again() -> None:
    assert why_not_restart(stopped(), SERVING) is None


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ("restarting", "restarting"),  # a crash: Docker's restart policy brings it back
        ("running", "running"),  # someone (the reconciler) already started it
        ("removing", "removing"),  # the controller is removing it
        ("", "gone"),
    ],
)
def test_a_container_docker_handles_or_that_is_being_removed_is_left(state: str, reason: str) -> None:
    why = why_not_restart(stopped(state=state), SERVING)
    assert why is not None and reason in why


def test_a_retired_container_is_never_resurrected() -> None:
    """The controller records the new serving set before it stops the old containers."""
    why = why_not_restart(stopped("old"), SERVING)
    assert why is not None and "retired" in why


def test_an_unknown_serving_set_restarts_nothing() -> None:
    assert why_not_restart(stopped(), None) is not None


def test_the_keeper_starts_only_what_the_rule_allows() -> None:
    starter = FakeStarter()
    sets: dict[str, Collection[str] | None] = {"web": SERVING, "gone": ()}
    keeper = Keeper(starter=starter, serving=sets.get)
    assert keeper.on_stop(stopped("c1"))
    assert not keeper.on_stop(stopped("old"))
    assert not keeper.on_stop(stopped("c2", state="restarting"))
    assert not keeper.on_stop(stopped("c9", app="gone"))
    assert not keeper.on_stop(stopped("c9", app=""))  # not an app container
    assert starter.started == ["c1"]


def test_a_failed_start_is_reported_not_raised() -> None:
    keeper = Keeper(starter=FakeStarter(NotFound("removed meanwhile")), serving=lambda app: SERVING)
    assert not keeper.on_stop(stopped())


class Audit:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def record(self, **event: Any) -> None:
        self.events.append(event)


def test_the_controllers_keeper_audits_its_starts_as_the_reconciler() -> None:
    audit = Audit()
    Keeper(starter=FakeStarter(), serving=lambda app: SERVING, audit=audit).on_stop(stopped("c1"))
    Keeper(starter=FakeStarter(NotFound("gone")), serving=lambda app: SERVING, audit=audit).on_stop(
        stopped("c2")
    )
    Keeper(starter=FakeStarter(), serving=lambda app: SERVING, audit=audit).on_stop(stopped("old"))  # left
    assert [(e["actor"], e["action"], e["app"], e["outcome"]) for e in audit.events] == [
        ("reconciler", "restart_container", "web", "ok"),
        ("reconciler", "restart_container", "web", "failed"),
    ]
    assert "name-c1" in audit.events[0]["detail"] and "gone" in audit.events[1]["detail"]


def test_restart_stopped_starts_the_exited_serving_containers_of_a_listing() -> None:
    starter = FakeStarter()
    keeper = Keeper(starter=starter, serving=lambda app: SERVING)

    def info(container_id: str, state: str) -> ContainerInfo:
        return ContainerInfo(
            id=container_id, name=container_id, app="web", release=1, process="web", address=None, state=state
        )

    listing = [info("c1", "exited"), info("c2", "running"), info("old", "exited")]
    assert keeper.restart_stopped(listing) == ["c1"]
    assert starter.started == ["c1"]


class FlakyStore:
    """get_serving answers from `sets`, or fails like a database that is down."""

    def __init__(self) -> None:
        self.sets: dict[str, list[str] | None] = {"web": ["c1"]}
        self.down = False

    def get_serving(self, app: str) -> list[str] | None:
        if self.down:
            raise OSError("database is down")
        if app not in self.sets:
            raise NotFound(app)
        return self.sets[app]

    def list_apps(self) -> list[object]:
        if self.down:
            raise OSError("database is down")
        return [type("App", (), {"name": name})() for name in self.sets]


def test_serving_sets_answer_the_last_set_read_while_the_database_is_down() -> None:
    store = FlakyStore()
    sets = ServingSets(store)  # type: ignore[arg-type]  # only the two methods it calls
    sets.refresh()
    store.down = True
    assert sets.of("web") == frozenset({"c1"})
    assert sets.of("never-read") is None
    store.down = False
    assert sets.of("deleted") == frozenset()  # the app is gone: nothing of it serves


def test_one_keeper_per_data_dir(tmp_path: Path) -> None:
    assert running_keeper(tmp_path) is None
    fd = _take_lock(tmp_path / "keeper.pid")
    assert fd is not None
    try:
        assert running_keeper(tmp_path) == os.getpid()
        assert _take_lock(tmp_path / "keeper.pid") is None  # a second keeper gives up
    finally:
        os.close(fd)
    assert running_keeper(tmp_path) is None  # a dead keeper's pid file names nobody
