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
                    self._guarded(self.observe_all, subscription.drain())
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
        self.observe_all([event])

    def observe_all(self, events: Sequence[Event]) -> None:
        """Update the apps events concern, in order, so each state they pass through is
        announced. An app that is deploying needs no look at Docker: only a deploy's end and a
        container's death do (a look for each of the three events of every queued job was
        most of the controller's CPU under a burst of deploy requests)."""
        for event in events:
            noted = self._note(event)
            if noted is not None:
                app, container = noted
                self._check({app: {container} if container else set()})

    def _note(self, event: Event) -> tuple[str, str | None] | None:
        """The app an event concerns (and the container it says died), its deploy noted."""
        app = str(event.data.get("app") or "")
        if not app:
            return None
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
            return app, None
        if event.type == "container":
            dead = str(event.data.get("container") or "") if event.data.get("action") in DEATHS else None
            return app, dead
        return None

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
        self._check({name: {dead} if dead else set()})

    def _check(self, dead: dict[str, set[str]]) -> None:
        looked_up: list[App] = []
        for name in dead:
            with self._lock:
                deploying = name in self._deploying
            if deploying:
                self._record(name, DEPLOYING, announce=True)
                continue
            try:
                looked_up.append(self._store.get_app(name))
            except NotFound:
                with self._lock:
                    self._states.pop(name, None)
        # An app with no release is not-deployed (or failed) whatever runs: no look at Docker.
        for app in [app for app in looked_up if app.current_release is None]:
            self._record(app.name, self.state_of(app, ()), announce=True)
        looked_up = [app for app in looked_up if app.current_release is not None]
        if not looked_up:
            return
        only = looked_up[0].name if len(looked_up) == 1 else None
        containers = self._runtime.list_containers(only)
        for app in looked_up:
            own = [c for c in containers if c.app == app.name and c.name not in dead[app.name]]
            self._record(app.name, self.state_of(app, own), announce=True)

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
