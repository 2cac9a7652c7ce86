"""App state, container replacement and health events on the event bus, over the fake Docker."""

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from controller.domain.models import ContainerExit
from controller.services.events import Event, Subscription
from tests.api.conftest import Bed

WAIT = 30.0  # seconds: a bound, never reached when things work (events come in milliseconds)


class Watched:
    """Every event of a subscription so far (the watcher publishes `app` events from its own
    thread, so they may come before or after the events that caused them)."""

    def __init__(self, subscription: Subscription) -> None:
        self._subscription = subscription
        self._seen: list[Event] = []

    def wait_for(
        self, matches: Callable[[str, dict[str, Any]], bool], nudge: Callable[[], None] = lambda: None
    ) -> dict[str, Any]:
        """The first event that `matches` (type, data), waiting on the subscription for it
        (calling `nudge` after each wait)."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            self._seen += self._subscription.drain()
            for event in self._seen:
                if matches(event.type, event.data):
                    return event.data
            self._subscription.wait(0.5)
            nudge()
        raise AssertionError(f"the event never came; seen: {[e.data for e in self._seen]}")


def watch(bed: Bed) -> Watched:
    return Watched(bed.services.events.subscribe())


def app_state(app: str, state: str) -> Callable[[str, dict[str, Any]], bool]:
    return lambda kind, data: kind == "app" and data["app"] == app and data["state"] == state


def test_a_deploy_moves_the_app_through_deploying_to_running_with_a_health_event(bed: Bed) -> None:
    bed.create_app("web")
    watched = watch(bed)
    bed.deploy("web")

    assert watched.wait_for(app_state("web", "deploying"))["app"] == "web"
    health = watched.wait_for(lambda kind, data: kind == "health")
    assert health["app"] == "web" and health["result"] == "passed" and health["release"] == 1
    assert health["error"] is None and "-web-web-1-" in health["container"]
    assert watched.wait_for(app_state("web", "running"))["previous"] == "deploying"


def test_a_failed_health_check_is_an_event_and_a_first_deploy_that_failed_is_failed(bed: Bed) -> None:
    bed.create_app("web")
    bed.prober.status = 500
    watched = watch(bed)
    assert bed.deploy("web")["status"] == "failed"

    health = watched.wait_for(lambda kind, data: kind == "health")
    assert health["result"] == "failed" and health["app"] == "web" and health["error"]
    assert watched.wait_for(app_state("web", "failed"))["previous"] == "deploying"


def test_a_dead_container_makes_the_app_crashed_then_the_repair_replaces_it(bed: Bed) -> None:
    bed.create_app("web")
    bed.deploy("web")
    watched = watch(bed)
    (container,) = bed.runtime.list_containers("web")
    bed.runtime.containers[container.id] = replace(container, state="exited")

    bed.services._on_death(
        ContainerExit(
            app="web",
            release=1,
            process="web",
            container=container.name,
            exit_code=137,
            at=datetime.now(UTC),
            crashed=False,
        )
    )
    died = watched.wait_for(lambda kind, data: kind == "container")
    assert died["action"] == "stopped" and died["container"] == container.name
    assert watched.wait_for(app_state("web", "crashed"))["app"] == "web"

    # The death poked the reconciler: it queues a repair, which replaces the container. (A pass
    # that still saw the first deploy's job running leaves the app alone: poke it again.)
    replaced = watched.wait_for(
        lambda kind, data: kind == "container" and data["action"] == "replaced",
        nudge=bed.services.reconciler.poke,
    )
    assert replaced["container"] == container.name and replaced["how"] == "repair"
    (new,) = replaced["replacements"]
    assert new != container.name
    assert watched.wait_for(app_state("web", "running"))["app"] == "web"


def test_a_sweep_sees_what_no_event_announced(bed: Bed) -> None:
    """Docker's restart policy brings a crashed container back without an event of Dockyard's."""
    bed.create_app("web")
    deployed = watch(bed)
    bed.deploy("web")
    deployed.wait_for(app_state("web", "running"))
    (container,) = bed.runtime.list_containers("web")
    watched = watch(bed)

    bed.runtime.containers[container.id] = replace(container, state="restarting")
    bed.services.app_states.sweep()
    assert watched.wait_for(app_state("web", "crashed"))["previous"] == "running"

    bed.runtime.containers[container.id] = container
    bed.services.app_states.sweep()
    assert watched.wait_for(app_state("web", "running"))["previous"] == "crashed"
