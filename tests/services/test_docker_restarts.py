"""A serving container that Docker is restarting after a crash is left to Docker.

Adoption at start waits for it instead of routing around it, and the reconciler queues no
replacement for it.
"""

from datetime import UTC, datetime
from typing import Any, cast

from controller.domain.models import App, ContainerInfo, Release, Site
from controller.services.reconciler import Reconciler
from controller.services.routing import Backend, Routing

CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def container(state: str, address: str | None = "10.0.0.2") -> ContainerInfo:
    return ContainerInfo(
        id="c1", name="web-1", app="solo", release=1, process="web", address=address, state=state
    )


class Store:
    def list_apps(self) -> list[App]:
        return [App(name="solo", created_at=CREATED, domains=("solo.test",), current_release=1)]

    def get_release(self, app: str, number: int) -> Release:
        return Release(
            app=app,
            number=number,
            image_id="sha256:i",
            source_digest="d",
            config={},
            port=8080,
            healthchecks=(),
            created_at=CREATED,
            deploy_id="d1",
        )

    def get_serving(self, app: str) -> list[str]:
        return ["c1"]


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
    def is_current(self, sites: list[Site]) -> bool:
        return True


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
