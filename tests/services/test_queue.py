"""The dispatcher: one job per app, apps take turns, a crashing job does not wedge its app."""

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from controller.domain.models import Deploy, DeployKind, DeployStatus
from controller.services.queue import Dispatcher


class QueueStore:
    """Just the queue part of the Store port, in memory."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deploys: dict[str, Deploy] = {}

    def add(self, app: str, number: int, kind: DeployKind = DeployKind.CONFIG) -> Deploy:
        deploy = Deploy(
            id=f"{app}-{number}",
            app=app,
            kind=kind,
            status=DeployStatus.QUEUED,
            created_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=len(self.deploys)),
        )
        self.deploys[deploy.id] = deploy
        return deploy

    def queued_deploys(self, limit: int | None = None, *, app: str | None = None) -> list[Deploy]:
        with self.lock:
            queued = [
                d
                for d in self.deploys.values()
                if d.status is DeployStatus.QUEUED and (app is None or d.app == app)
            ]
        return sorted(queued, key=lambda d: (d.created_at, d.id))[:limit]

    def queued_apps(self) -> dict[str, datetime]:
        oldest: dict[str, datetime] = {}
        for deploy in self.queued_deploys():
            oldest.setdefault(deploy.app, deploy.created_at)
        return oldest

    def claim_next(self, app: str, *, builds: bool = True) -> tuple[Deploy, dict[str, object]] | None:
        with self.lock:
            queued = sorted(
                (d for d in self.deploys.values() if d.status is DeployStatus.QUEUED and d.app == app),
                key=lambda d: (d.created_at, d.id),
            )
            if not queued or (not builds and queued[0].kind is DeployKind.BUILD):
                return None
            claimed = self.deploys[queued[0].id] = replace(queued[0], status=DeployStatus.RUNNING)
            return claimed, {}

    def claim_deploy(self, deploy_id: str, status: DeployStatus = DeployStatus.RUNNING) -> bool:
        with self.lock:
            deploy = self.deploys[deploy_id]
            if deploy.status is not DeployStatus.QUEUED:
                return False
            self.deploys[deploy_id] = replace(deploy, status=status)
            return True


def run_all(store: QueueStore, workers: int, job: object, expected: int) -> list[str]:
    order: list[str] = []
    done = threading.Event()
    lock = threading.Lock()

    def execute(deploy: Deploy, params: object) -> None:
        try:
            job(deploy)  # type: ignore[operator]
        finally:
            with lock:
                order.append(deploy.id)
                if len(order) == expected:
                    done.set()

    dispatcher = Dispatcher(store=store, workers=workers, execute=execute)  # type: ignore[arg-type]
    dispatcher.start()
    dispatcher.wake()
    assert done.wait(10), order
    dispatcher.stop()
    return order


def wait_until_started(started: list[str], count: int) -> None:
    """Until `count` jobs started (at most 2 s)."""
    deadline = time.monotonic() + 2
    while len(started) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def test_one_job_per_app_and_apps_take_turns() -> None:
    store = QueueStore()
    for number in range(3):
        for app in ("a", "b", "c", "d"):
            store.add(app, number)
    running: dict[str, int] = {}
    overlap: list[str] = []
    lock = threading.Lock()

    def job(deploy: Deploy) -> None:
        with lock:
            running[deploy.app] = running.get(deploy.app, 0) + 1
            if running[deploy.app] > 1:
                overlap.append(deploy.app)
        time.sleep(0.005)
        with lock:
            running[deploy.app] -= 1

    order = run_all(store, workers=2, job=job, expected=12)
    assert not overlap
    first_round = [deploy_id.split("-")[0] for deploy_id in order[:4]]
    assert sorted(first_round) == ["a", "b", "c", "d"], order


def test_a_crashing_job_does_not_wedge_its_app() -> None:
    store = QueueStore()
    store.add("a", 0)
    store.add("a", 1)

    def job(deploy: Deploy) -> None:
        if deploy.id == "a-0":
            raise RuntimeError("boom")

    assert run_all(store, workers=1, job=job, expected=2) == ["a-0", "a-1"]


def test_jobs_queued_while_it_runs_start_without_a_poll() -> None:
    store = QueueStore()
    started: list[str] = []
    done = threading.Event()

    def execute(deploy: Deploy, params: object) -> None:
        started.append(deploy.id)
        if len(started) == 3:
            done.set()

    dispatcher = Dispatcher(store=store, workers=1, execute=execute)  # type: ignore[arg-type]
    dispatcher.start()
    try:
        time.sleep(0.05)  # the dispatcher has read the (empty) queue
        for number, app in enumerate(("x", "y", "x")):
            store.add(app, number)
            dispatcher.queued(app)
        assert done.wait(0.9), started  # sooner than the idle poll would look again
    finally:
        dispatcher.stop()
    assert sorted(started) == ["x-0", "x-2", "y-1"]


def test_other_jobs_run_next_to_a_build_but_builds_wait_for_a_build_slot() -> None:
    store = QueueStore()
    store.add("a", 0, kind=DeployKind.BUILD)
    store.add("b", 0, kind=DeployKind.BUILD)
    store.add("c", 0, kind=DeployKind.REPAIR)
    store.add("d", 0, kind=DeployKind.REPAIR)
    release = threading.Event()
    started: list[str] = []
    lock = threading.Lock()

    def execute(deploy: Deploy, params: object) -> None:
        with lock:
            started.append(deploy.id)
        if deploy.kind is DeployKind.BUILD:
            release.wait(5)

    dispatcher = Dispatcher(store=store, workers=1, other_workers=2, execute=execute)  # type: ignore[arg-type]
    dispatcher.start()
    try:
        wait_until_started(started, 3)
        # d, queued after b, has started: the dispatcher went past b, whose build waits for a's.
        assert sorted(started) == ["a-0", "c-0", "d-0"]
        release.set()
        wait_until_started(started, 4)
        assert started[-1] == "b-0"
    finally:
        release.set()
        dispatcher.stop()


def test_an_app_whose_jobs_it_was_told_of_are_all_claimed_is_not_looked_at_again() -> None:
    """A claim that finds nothing is a write transaction: after the last job it was told of
    the dispatcher waits to be told of another (or for its resync) before it claims again."""
    store = QueueStore()
    claims: list[str] = []
    claim_next = store.claim_next

    def counted(app: str, *, builds: bool = True) -> tuple[Deploy, dict[str, object]] | None:
        claims.append(app)
        return claim_next(app, builds=builds)

    store.claim_next = counted  # type: ignore[method-assign]
    started: list[str] = []

    def execute(deploy: Deploy, params: object) -> None:
        started.append(deploy.id)

    dispatcher = Dispatcher(store=store, workers=1, execute=execute)  # type: ignore[arg-type]
    dispatcher.start()
    try:
        time.sleep(0.05)  # the dispatcher has read the (empty) queue
        store.add("x", 0)
        store.add("x", 1)
        dispatcher.queued("x", 2)
        wait_until_started(started, 2)
        time.sleep(0.1)  # it would have looked again by now
        assert started == ["x-0", "x-1"] and claims == ["x", "x"]

        store.add("x", 2)
        dispatcher.queued("x")
        wait_until_started(started, 3)
        assert started[-1] == "x-2"
    finally:
        dispatcher.stop()
