"""Routes survive a controller killed at any moment, and crashes Docker restarts by itself.

A serving container that Docker is restarting after a crash is left to Docker: adoption at
start waits for it instead of routing around it, and the reconciler queues no replacement.
The serving set is durable before the proxy routes to it.
"""

import time
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from controller.domain.errors import NotFound, ProxyConfigRejected
from controller.domain.models import App, ContainerInfo, Release, Site
from controller.services.keeper import Keeper
from controller.services.reconciler import Reconciler
from controller.services.routing import AddressFollower, Backend, Routing

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
    """A container stopped through Docker's API, which comes back (same address here) when started."""

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


class SitesProxy(Proxy):
    """Records each config it was given."""

    def __init__(self, *, refuse: bool = False) -> None:
        super().__init__(refuse=refuse)
        self.applied: list[list[Site]] = []

    def apply(self, sites: list[Site]) -> None:
        if self._refuse:
            raise ProxyConfigRejected("refused")
        self.applied.append(sites)


class MovedRuntime(Runtime):
    """c1 started again by Docker at the lowest free address, 10.0.0.7 (or as given)."""

    def __init__(self, state: str = "running", address: str | None = "10.0.0.7") -> None:
        super().__init__(container(state, address))
        self.inspected: list[str] = []

    def inspect_container(self, container_id: str) -> ContainerInfo:
        self.inspected.append(container_id)
        if container_id != "c1":
            raise NotFound(container_id)
        return self._states[0]


def two_backends(runtime: Runtime, proxy: Proxy) -> Routing:
    routes = Routing(store=cast(Any, Store()), runtime=cast(Any, runtime), proxy=cast(Any, proxy))
    routes._backends["solo"] = (Backend("c1", "10.0.0.2:8080"), Backend("c2", "10.0.0.3:8080"))
    return routes


def test_a_serving_container_started_again_at_another_address_is_routed_there() -> None:
    proxy = SitesProxy()
    routes = two_backends(MovedRuntime(), proxy)

    assert routes.follow_address("c1")

    assert routes.backends("solo") == (Backend("c1", "10.0.0.7:8080"), Backend("c2", "10.0.0.3:8080"))
    assert [site.backends for site in proxy.applied[-1]] == [("10.0.0.3:8080", "10.0.0.7:8080")]
    assert not routes.follow_address("c1")  # routed there already: no second render
    assert len(proxy.applied) == 1


@pytest.mark.parametrize(
    ("started", "runtime"),
    [
        ("c9", MovedRuntime()),  # a deploy's new container, not routed yet: not even inspected
        ("c1", MovedRuntime(address="10.0.0.2")),  # back at its own address
        ("c1", MovedRuntime(state="exited", address=None)),  # died again before it was looked at
    ],
    ids=["not-routed", "same-address", "died-again"],
)
def test_a_start_that_needs_no_new_route_renders_nothing(started: str, runtime: MovedRuntime) -> None:
    proxy = SitesProxy()
    routes = two_backends(runtime, proxy)

    assert not routes.follow_address(started)

    assert routes.backends("solo")[0] == Backend("c1", "10.0.0.2:8080") and proxy.applied == []
    assert runtime.inspected == ([] if started == "c9" else ["c1"])


def test_a_new_address_the_proxy_refuses_leaves_the_route_as_it_was() -> None:
    routes = two_backends(MovedRuntime(), SitesProxy(refuse=True))

    with pytest.raises(ProxyConfigRejected):
        routes.follow_address("c1")

    assert routes.backends("solo")[0] == Backend("c1", "10.0.0.2:8080")


def test_the_reconciler_routes_a_container_at_its_new_address_instead_of_replacing_it() -> None:
    """A start whose event was missed: the pass routes it there; no repair deploy."""
    runtime = MovedRuntime()
    routes = Routing(store=cast(Any, Store()), runtime=cast(Any, runtime), proxy=cast(Any, SitesProxy()))
    routes._backends["solo"] = (Backend("c1", "10.0.0.2:8080"),)
    deploys, audit = Deploys(), Audit()
    reconciler = Reconciler(
        store=cast(Any, Store()),
        runtime=cast(Any, runtime),
        routing=routes,
        deploys=cast(Any, deploys),
        interval=60,
        audit=audit,
    )

    report = reconciler.reconcile_once()

    assert report.readdressed == ["solo"] and report.repairs_queued == [] and deploys.repairs == []
    assert routes.backends("solo") == (Backend("c1", "10.0.0.7:8080"),)
    assert audit.rows() == [("reconciler", "route_container", "solo", "ok")]


def test_the_address_follower_routes_started_containers_off_the_event_thread() -> None:
    routes = two_backends(MovedRuntime(), SitesProxy())
    follower = AddressFollower(routes)
    follower.start()
    try:
        follower.container_started("c9")
        follower.container_started("c1")
        deadline = time.monotonic() + 10
        while routes.backends("solo")[0].address != "10.0.0.7:8080" and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        follower.stop()

    assert routes.backends("solo")[0] == Backend("c1", "10.0.0.7:8080")
