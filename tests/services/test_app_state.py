"""The app state watch: which events make it look at Docker."""

from datetime import UTC, datetime
from typing import Any

from controller.domain.models import App, ContainerInfo
from controller.services.app_state import AppStateWatch
from controller.services.crashes import CrashLog
from controller.services.events import Event, EventBus


class Apps:
    """The two calls of the Store the watch makes, over a dict of apps."""

    def __init__(self, *apps: App) -> None:
        self.apps = {app.name: app for app in apps}

    def get_app(self, name: str) -> App:
        return self.apps[name]

    def list_apps(self) -> list[App]:
        return list(self.apps.values())


class CountingRuntime:
    def __init__(self) -> None:
        self.listings: list[str | None] = []

    def list_containers(self, app: str | None = None) -> list[ContainerInfo]:
        self.listings.append(app)
        return []


def deploy_event(app: str, status: str) -> Event:
    data: dict[str, Any] = {"type": "deploy", "app": app, "kind": "config", "status": status}
    return Event("e-1", "deploy", data)


def watch(apps: Apps, runtime: CountingRuntime, bus: EventBus) -> AppStateWatch:
    return AppStateWatch(store=apps, runtime=runtime, crashes=CrashLog(), events=bus)  # type: ignore[arg-type]


def test_a_job_of_an_app_without_a_release_needs_no_look_at_docker() -> None:
    apps = Apps(App(name="new", created_at=datetime.now(UTC)))
    runtime, bus = CountingRuntime(), EventBus()
    subscription = bus.subscribe()
    states = watch(apps, runtime, bus)

    states.observe_all([deploy_event("new", s) for s in ("queued", "running", "succeeded")])

    assert runtime.listings == []
    announced = [(e.data["state"], e.data["previous"]) for e in subscription.drain() if e.type == "app"]
    assert announced == [("deploying", None), ("not-deployed", "deploying")]


def test_the_end_of_a_job_of_a_released_app_looks_at_its_containers() -> None:
    apps = Apps(App(name="live", created_at=datetime.now(UTC), current_release=1))
    runtime, bus = CountingRuntime(), EventBus()
    subscription = bus.subscribe()
    states = watch(apps, runtime, bus)

    states.observe_all([deploy_event("live", s) for s in ("queued", "running", "succeeded")])

    assert runtime.listings == ["live"]
    announced = [e.data["state"] for e in subscription.drain() if e.type == "app"]
    assert announced == ["deploying", "crashed"]  # no container runs its release
