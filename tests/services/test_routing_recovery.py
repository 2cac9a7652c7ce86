"""Routes survive a controller killed at any moment, and crashes Docker restarts by itself.

A serving container that Docker is restarting after a crash is left to Docker: adoption at
start waits for it instead of routing around it, and the reconciler queues no replacement.
The serving set is durable before the proxy routes to it.
"""

from datetime import UTC, datetime
from typing import Any, cast

import pytest

from controller.domain.errors import ProxyConfigRejected
from controller.domain.models import App, ContainerInfo, Release, Site
from controller.services.keeper import Keeper
from controller.services.reconciler import Reconciler
from controller.services.routing import Backend, Routing

CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def container(state: str, address: str | None = "10.0.0.2", release: int = 1) -> ContainerInfo:
    return ContainerInfo(
        id="c1", name="web-1", app="solo", release=release, process="web", address=address, state=state
    )


class Store:
    def __init__(self) -> None:
        self.serving = ["c1"]

    def set_serving(self, app: str, container_ids: list[str]) -> None:
        self.serving = list(container_ids)

    def list_apps(self) -> list[App]:
        return [App(name="solo", created_at=CREATED, domains=("solo.test",), current_release=1)]

    def get_release(self, app: str, number: int) -> Release:
        return Release(
            app=app,
            number=number,
            image_id="sha256:i",
            source_digest="d",
            config={},
            port=8080 + number - 1,
            healthchecks=(),
            created_at=CREATED,
            deploy_id="d1",
        )

    def get_serving(self, app: str) -> list[str]:
        return self.serving


class Runtime:
    """Answers each list call with the next state, the last one for good."""

    def __init__(self, *states: ContainerInfo) -> None:
        self._states = list(states)
        self.removed: list[str] = []

    def list_containers(self, app: str | None = None) -> list[ContainerInfo]:
        return [self._states.pop(0) if len(self._states) > 1 else self._states[0]]

    def remove_container(self, container_id: str, *, stop_timeout: float = 10) -> None:
        self.removed.append(container_id)


class Proxy:
    """Records what the store said was serving whenever a config went live."""

    def __init__(self, store: Store | None = None, *, refuse: bool = False) -> None:
        self._store = store
        self._refuse = refuse
        self.serving_at_apply: list[list[str]] = []

    def is_current(self, sites: list[Site]) -> bool:
        return True

    def apply(self, sites: list[Site]) -> None:
        if self._refuse:
            raise ProxyConfigRejected("refused")
        assert self._store is not None
        self.serving_at_apply.append(list(self._store.serving))


class Audit:
    """Records what the reconciler records in the audit log."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def record(self, **event: Any) -> None:
        self.events.append(event)

    def rows(self) -> list[tuple[str, str, str | None, str]]:
        return [(e["actor"], e["action"], e.get("app"), e["outcome"]) for e in self.events]


class Deploys:
    def __init__(self) -> None:
        self.repairs: list[str] = []

    def busy_apps(self) -> set[str]:
        return set()

    def request_repair(self, app: str, reason: str) -> object:
        self.repairs.append(app)
        return type("Queued", (), {"id": "r1"})()


def routing(runtime: Runtime) -> Routing:
    return Routing(store=cast(Any, Store()), runtime=cast(Any, runtime), proxy=cast(Any, Proxy()))


def test_adoption_waits_for_docker_to_bring_a_crashed_serving_container_back() -> None:
    runtime = Runtime(container("restarting", None), container("restarting", None), container("running"))

    (site,) = routing(runtime).adopt_running()

    assert site.backends == ("10.0.0.2:8080",)


def test_adoption_routes_a_container_a_deploy_started_after_the_wait() -> None:
    """Docker answers again while a deploy runs: the wait's list predates the deploy's new
    container, the store already names it serving. Adoption routes it (it lists again under
    the routing lock) instead of leaving the app without a backend."""
    runtime = Runtime(container("created", None), container("running"))

    (site,) = routing(runtime).adopt_running()

    assert site.backends == ("10.0.0.2:8080",)


def test_adoption_does_not_wait_out_a_crash_loop() -> None:
    (site,) = routing(Runtime(container("restarting", None))).adopt_running(restart_wait=0.3)

    assert site.backends == ()


def test_the_reconciler_queues_no_repair_while_docker_restarts_a_container() -> None:
    runtime = Runtime(container("restarting", None))
    routes = routing(runtime)
    routes._backends["solo"] = (Backend("c1", "10.0.0.2:8080"),)
    deploys = Deploys()
    reconciler = Reconciler(
        store=cast(Any, Store()),
        runtime=cast(Any, runtime),
        routing=routes,
        deploys=cast(Any, deploys),
        interval=60,
    )

    report = reconciler.reconcile_once()

    assert report.repairs_queued == [] and report.readdressed == []
    assert deploys.repairs == [] and runtime.removed == []


class StartingRuntime(Runtime):
    """A container stopped through Docker's API, which comes back (same address) when started."""

    def __init__(self) -> None:
        super().__init__(container("exited", None))
        self.started: list[str] = []

    def start_container(self, container_id: str) -> None:
        self.started.append(container_id)
        self._states = [container("running")]

    def inspect_container(self, container_id: str) -> ContainerInfo:
        return self._states[0]


def test_the_reconciler_starts_a_stopped_serving_container_in_place_before_any_repair() -> None:
    runtime = StartingRuntime()
    routes = routing(runtime)
    routes._backends["solo"] = (Backend("c1", "10.0.0.2:8080"),)
    deploys = Deploys()
    store = Store()
    reconciler = Reconciler(
        store=cast(Any, store),
        runtime=cast(Any, runtime),
        routing=routes,
        deploys=cast(Any, deploys),
        interval=60,
        keeper=Keeper(starter=runtime, serving=store.get_serving),
    )

    report = reconciler.reconcile_once()

    assert runtime.started == ["c1"]
    assert report.repairs_queued == [] and report.readdressed == []
    assert deploys.repairs == [] and runtime.removed == []


def test_without_a_keeper_the_reconciler_repairs_a_stopped_serving_container() -> None:
    runtime = StartingRuntime()
    routes = routing(runtime)
    routes._backends["solo"] = (Backend("c1", "10.0.0.2:8080"),)
    deploys = Deploys()
    reconciler = Reconciler(
        store=cast(Any, Store()),
        runtime=cast(Any, runtime),
        routing=routes,
        deploys=cast(Any, deploys),
        interval=60,
    )

    assert reconciler.reconcile_once().repairs_queued == ["solo"]
    assert runtime.started == []


def test_the_serving_set_is_stored_before_the_proxy_routes_to_it() -> None:
    store = Store()
    proxy = Proxy(store)
    routes = Routing(store=cast(Any, store), runtime=cast(Any, Runtime()), proxy=cast(Any, proxy))

    routes.switch("solo", (Backend("c2", "10.0.0.3:8080"),))

    assert proxy.serving_at_apply == [["c2"]]


def test_a_refused_switch_leaves_the_stored_serving_set_as_it_was() -> None:
    store = Store()
    routes = Routing(
        store=cast(Any, store), runtime=cast(Any, Runtime()), proxy=cast(Any, Proxy(refuse=True))
    )
    routes._backends["solo"] = (Backend("c1", "10.0.0.2:8080"),)

    with pytest.raises(ProxyConfigRejected):
        routes.switch("solo", (Backend("c2", "10.0.0.3:8080"),))

    assert store.serving == ["c1"]
    assert routes.backends("solo") == (Backend("c1", "10.0.0.2:8080"),)


def test_adoption_routes_a_container_on_its_own_release_port() -> None:
    """Killed after storing a v2 container as serving but before v2 became current."""
    (site,) = routing(Runtime(container("running", release=2))).adopt_running()

    assert site.backends == ("10.0.0.2:8081",)


def test_what_the_reconciler_does_is_audited_as_the_reconciler() -> None:
    """Restarts in place (by its keeper) and repairs it queues, with the reason."""
    store = Store()
    runtime = StartingRuntime()
    routes = routing(runtime)
    routes._backends["solo"] = (Backend("c1", "10.0.0.2:8080"),)
    audit = Audit()
    reconciler = Reconciler(
        store=cast(Any, store),
        runtime=cast(Any, runtime),
        routing=routes,
        deploys=cast(Any, Deploys()),
        interval=60,
        keeper=Keeper(starter=runtime, serving=store.get_serving, audit=audit),
        audit=audit,
    )
    reconciler.reconcile_once()
    assert audit.rows() == [("reconciler", "restart_container", "solo", "ok")]
    assert "web-1" in audit.events[0]["detail"]

    repairs = Audit()
    without_keeper = Reconciler(
        store=cast(Any, Store()),
        runtime=cast(Any, StartingRuntime()),
        routing=routes,
        deploys=cast(Any, Deploys()),
        interval=60,
        audit=repairs,
    )
    without_keeper.reconcile_once()
    assert repairs.rows() == [("reconciler", "queue_repair", "solo", "ok")]
    assert repairs.events[0]["detail"] == "0 of 1 web containers run: repair deploy r1"


def test_the_reconciler_audits_the_orphans_it_removes() -> None:
    orphan = ContainerInfo(
        id="o1", name="gone-1", app="gone", release=1, process="web", address="10.0.0.9", state="running"
    )
    runtime = Runtime(orphan)
    audit = Audit()
    reconciler = Reconciler(
        store=cast(Any, Store()),
        runtime=cast(Any, runtime),
        routing=routing(runtime),
        deploys=cast(Any, Deploys()),
        interval=60,
        audit=audit,
    )
    reconciler.reconcile_once()
    assert runtime.removed == ["o1"]
    assert ("reconciler", "remove_container", "gone", "ok") in audit.rows()
