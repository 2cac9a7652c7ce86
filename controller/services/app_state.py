"""`app` events: one word per app (see `app_status`, plus deploying and failed), published when it changes.

The watcher follows the event bus itself: a `deploy` event moves the app to deploying and,
when the deploy ends, to what its containers say; a `container` death is counted at once
(the container may already be running again by the time Docker is asked). A sweep every
few seconds catches what no event announces, such as Docker's restart policy bringing a
crashed container back.
"""

import logging
import threading
import time
from collections.abc import Callable, Sequence

from controller.domain.errors import DockyardError, NotFound
from controller.domain.models import App, ContainerInfo, DeployKind
from controller.services.apps import app_status
from controller.services.crashes import CrashLog
from controller.services.events import Event, EventBus, Subscription
from controller.services.ports import Runtime, Store

logger = logging.getLogger(__name__)
SWEEP_INTERVAL = 5.0  # seconds between looks at every app's containers
ROLLOUT_KINDS = {kind.value for kind in DeployKind if kind is not DeployKind.CERTIFICATE}
DEPLOYING = "deploying"
FAILED = "failed"
DEATHS = ("crashed", "stopped")


class AppStateWatch:
    """Derives each app's state and publishes an `app` event (app, state, previous) on change."""

    def __init__(self, *, store: Store, runtime: Runtime, crashes: CrashLog, events: EventBus) -> None:
        self._store = store
        self._runtime = runtime
        self._crashes = crashes
        self._events = events
        self._states: dict[str, str] = {}
        self._deploying: set[str] = set()
        self._failed: set[str] = set()  # apps whose last rollout failed
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start(self) -> None:
        """Follow the bus from now on (in a thread), after learning every app's state silently."""
        subscription = self._events.subscribe()
        threading.Thread(
            target=self._run, args=(subscription,), name="dockyard-app-states", daemon=True
        ).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self, subscription: Subscription) -> None:
        self._guarded(lambda: self.sweep(announce=False))
        next_sweep = time.monotonic() + SWEEP_INTERVAL
        try:
            while not self._stop.is_set():
                if subscription.wait(max(0.0, next_sweep - time.monotonic())):
                    for event in subscription.drain():
                        self._guarded(self.observe, event)
                if time.monotonic() >= next_sweep:  # also while events keep coming
                    self._guarded(self.sweep)
                    next_sweep = time.monotonic() + SWEEP_INTERVAL
        finally:
            subscription.close()

    @staticmethod
    def _guarded(step: Callable[..., object], *args: object) -> None:
        try:
            step(*args)
        except DockyardError as exc:
            logger.info("app states not updated: %s", exc)
        except Exception:
            logger.exception("app states not updated")

    def observe(self, event: Event) -> None:
        """Update the app an event concerns (deploy and container events)."""
        app = str(event.data.get("app") or "")
        if not app:
            return
        if event.type == "deploy" and event.data.get("kind") in ROLLOUT_KINDS:
            status = event.data.get("status")
            with self._lock:
                if status in ("queued", "running"):
                    self._deploying.add(app)
                else:
                    self._deploying.discard(app)
                    if status == "failed":
                        self._failed.add(app)
                    elif status == "succeeded":
                        self._failed.discard(app)
            self.check(app)
        elif event.type == "container":
            dead = str(event.data.get("container") or "") if event.data.get("action") in DEATHS else None
            self.check(app, dead=dead)

    def sweep(self, *, announce: bool = True) -> None:
        """Look at every app's containers (one list call); with `announce`, publish the changes."""
        containers = self._runtime.list_containers()
        apps = self._store.list_apps()
        with self._lock:
            for gone in set(self._states) - {app.name for app in apps}:
                self._states.pop(gone, None)
        for app in apps:
            state = self.state_of(app, [c for c in containers if c.app == app.name])
            self._record(app.name, state, announce=announce)

    def check(self, name: str, *, dead: str | None = None) -> None:
        """Publish the app's state if it changed; `dead` names a container known to have died."""
        try:
            app = self._store.get_app(name)
        except NotFound:
            with self._lock:
                self._states.pop(name, None)
            return
        containers = [c for c in self._runtime.list_containers(name) if c.name != dead]
        self._record(name, self.state_of(app, containers), announce=True)

    def state_of(self, app: App, containers: Sequence[ContainerInfo]) -> str:
        with self._lock:
            if app.name in self._deploying:
                return DEPLOYING
            failed = app.name in self._failed
        if failed and app.current_release is None:
            return FAILED
        crashes = len(self._crashes.recent(app.name, app.current_release))
        return app_status(app, containers, crashes)

    def _record(self, app: str, state: str, *, announce: bool) -> None:
        with self._lock:
            previous = self._states.get(app)
            if previous == state:
                return
            self._states[app] = state
        if announce:
            self._events.publish("app", app=app, state=state, previous=previous)
