"""Starts a serving container again in place when it was stopped behind Dockyard's back.

Docker's restart policy brings back a container whose process died (a crash, the OOM
killer), but never one stopped through its API (`docker kill`, `docker stop`): Docker
records that as an operator's stop. Such a container of a one-container app would stay
down until the controller replaced it, and not at all while the controller is down. The
keeper (its own small process, see `controller.wiring_keeper`) and the controller's
reconciler both use the rule here to start it again, which takes one container start.

The rule never resurrects a container the controller stopped on purpose: the controller
records a new serving set (the store's `serving` of the app) before its proxy leaves the
old containers, and stops only containers outside that set (retired after a deploy, scale
down, restart, repair; orphans; a destroyed app, whose row is deleted first).
"""

import logging
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Protocol

from controller.domain.errors import DockyardError, NotFound
from controller.domain.models import ContainerInfo
from controller.services.audit_ports import RECONCILER, AuditRecorder
from controller.services.ports import Store

logger = logging.getLogger(__name__)

# Docker's state of a container that stopped and that nothing (no restart policy) restarts.
STATE_EXITED = "exited"


@dataclass(frozen=True)
class StoppedContainer:
    """A container of this instance that died, with Docker's state of it right after.

    `state` is "" when the container is gone (removed) by the time it was inspected.
    """

    id: str
    name: str
    app: str
    state: str


class ContainerStarter(Protocol):
    """Starts an existing, stopped container again (same id and network; Docker gives it the
    lowest free address, which the controller's routing follows)."""

    def start_container(self, container_id: str) -> None:
        """Raises NotFound when the container is gone, DockyardError when Docker refuses."""


class StopWatcher(ContainerStarter, Protocol):
    """The keeper's view of Docker: deaths of this instance's containers, and starting one."""

    def watch_stops(self, on_stop: Callable[[StoppedContainer], None], stop: threading.Event) -> None:
        """Blocks until `stop`, calling on_stop for each of this instance's containers that died."""


def why_not_restart(container: StoppedContainer, serving: Collection[str] | None) -> str | None:
    """None when `container` must be started again in place; else the reason to leave it.

    Args:
        container: the dead container and Docker's state of it after its death.
        serving: the ids the store records as the app's serving set (None: unknown).
    """
    if container.state != STATE_EXITED:
        # restarting: Docker's policy brings it back; running: someone already did;
        # removing / dead / gone (""): the controller (or an operator) is removing it.
        return f"Docker reports it {container.state or 'gone'}"
    if serving is None:
        return "its app's serving set is unknown"
    if container.id not in serving:
        return "it is not serving (the controller retired it)"
    return None


class ServingSets:
    """Reads each app's serving set from the store, remembering the last one read.

    When the store cannot be read (the database is down or busy) the last set read for the
    app answers instead; an app the store no longer has serves nothing.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._known: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()

    def of(self, app: str) -> frozenset[str] | None:
        try:
            serving = self._store.get_serving(app)
        except NotFound:
            serving = []
        except Exception as exc:  # any database failure: fall back to what was read before
            logger.warning("keeper: serving set of %s not readable (%s); using the last one read", app, exc)
            with self._lock:
                return self._known.get(app)
        if serving is None:
            return None
        found = frozenset(serving)
        with self._lock:
            self._known[app] = found
        return found

    def refresh(self) -> None:
        """Read every app's set now, so a later database outage still has an answer."""
        try:
            apps = [app.name for app in self._store.list_apps()]
        except Exception as exc:  # the database is down or not created yet: keep what is known
            logger.info("keeper: apps not readable (%s)", exc)
            return
        for app in apps:
            self.of(app)


class Keeper:
    """Decides, for each dead container, whether to start it again, and does."""

    def __init__(
        self,
        *,
        starter: ContainerStarter,
        serving: Callable[[str], Collection[str] | None],
        audit: AuditRecorder | None = None,
    ) -> None:
        self._starter = starter
        self._serving = serving
        self._audit = audit  # the controller's keeper records its starts as the reconciler's

    def on_stop(self, container: StoppedContainer) -> bool:
        """Start `container` again if the rule says so; True when it was started."""
        reason = why_not_restart(container, self._serving(container.app) if container.app else None)
        if reason is not None:
            logger.info("keeper: leaving %s stopped: %s", container.name, reason)
            return False
        try:
            self._starter.start_container(container.id)
        except DockyardError as exc:
            logger.warning("keeper: could not start %s again: %s", container.name, exc)
            self._record(container, "failed", f"{container.name} stopped while serving; no start: {exc}")
            return False
        logger.warning(
            "keeper: %s was stopped while serving %s; started it again", container.name, container.app
        )
        self._record(container, "ok", f"{container.name} stopped while serving: started again in place")
        return True

    def _record(self, container: StoppedContainer, outcome: str, detail: str) -> None:
        if self._audit is not None:
            self._audit.record(
                actor=RECONCILER,
                action="restart_container",
                outcome=outcome,
                app=container.app,
                detail=detail,
            )

    def restart_stopped(self, containers: Iterable[ContainerInfo]) -> list[str]:
        """Start again the serving ones among `containers` that stopped; return their ids."""
        started = []
        for info in containers:
            stopped = StoppedContainer(id=info.id, name=info.name, app=info.app, state=info.state)
            if info.state == STATE_EXITED and self.on_stop(stopped):
                started.append(info.id)
        return started
