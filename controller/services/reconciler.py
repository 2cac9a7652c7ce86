"""Converges what runs to what the database says: dead containers, orphans, proxy drift.

Runs at start-up, on a timer and when Docker reports a container died. It never touches a
container without this controller's labels, and leaves apps with a deploy in flight alone.
Repairs are queued as deploy jobs, so they obey one-job-per-app like everything else.
What it changes is in the audit log as the actor `reconciler`.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from controller.domain.containers import STATE_RESTARTING
from controller.domain.errors import DockyardError, NotFound
from controller.domain.models import ContainerInfo, DeployStatus
from controller.services.audit_ports import RECONCILER, AuditRecorder
from controller.services.deploys import DeployService
from controller.services.events import EventBus
from controller.services.hygiene import Hygiene
from controller.services.keeper import Keeper
from controller.services.ports import Runtime, Store
from controller.services.routing import Routing

logger = logging.getLogger(__name__)
BACKOFF_START = 5.0
BACKOFF_MAX = 300.0


@dataclass
class ReconcileReport:
    """What one pass found and did."""

    repairs_queued: list[str] = field(default_factory=list)
    readdressed: list[str] = field(default_factory=list)
    removed_containers: list[str] = field(default_factory=list)
    proxy_rewritten: bool = False


@dataclass
class _CrashLoop:
    """Per app: the last repair queued and how long to wait before the next one."""

    last_repair: str | None = None
    failures: int = 0
    not_before: float = 0.0


class Reconciler:
    """Compares desired state (store) with actual state (labelled containers, proxy config)."""

    def __init__(
        self,
        *,
        store: Store,
        runtime: Runtime,
        routing: Routing,
        deploys: DeployService,
        interval: float,
        hygiene: Hygiene | None = None,
        keeper: Keeper | None = None,
        events: EventBus | None = None,
        audit: AuditRecorder | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._events = events or EventBus()
        self._audit = audit
        self._store = store
        self._runtime = runtime
        self._routing = routing
        self._deploys = deploys
        self._interval = interval
        self._hygiene = hygiene
        self._keeper = keeper
        self._clock = clock
        self._loops: dict[str, _CrashLoop] = {}
        self._poke = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.last_pass: datetime | None = None

    def start(self) -> None:
        threading.Thread(target=self._run, name="dockyard-reconcile", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self._poke.set()

    def poke(self) -> None:
        """Reconcile soon (a container died)."""
        self._poke.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.reconcile_once()
            except DockyardError as exc:
                logger.info("reconcile skipped: %s", exc)
            except Exception:
                logger.exception("reconcile failed")
            self._poke.wait(self._interval)
            self._poke.clear()

    def reconcile_once(self) -> ReconcileReport:
        with self._lock:
            report = self._reconcile()
            self.last_pass = datetime.now(UTC)
            return report

    def _reconcile(self) -> ReconcileReport:
        report = ReconcileReport()
        containers = self._runtime.list_containers()
        busy = self._deploys.busy_apps()
        apps = {app.name: app for app in self._store.list_apps()}
        wanted: set[str] = set()
        for app in apps.values():
            backends = self._routing.backends(app.name)
            wanted |= {b.container_id for b in backends}
            if app.name in busy or app.current_release is None or app.web_scale == 0:
                continue
            by_id = {c.id: c for c in containers}
            alive = self._started_again([by_id[b.container_id] for b in backends if b.container_id in by_id])
            running = [c for c in alive if c.state == "running"]
            # A crashed container that Docker restarts by itself needs no replacement.
            restarting = [c for c in alive if c.state == STATE_RESTARTING]
            if len(running) + len(restarting) < app.web_scale:
                if self._queue_repair(app.name, f"{len(running)} of {app.web_scale} web containers run"):
                    report.repairs_queued.append(app.name)
                continue
            self._loops.pop(app.name, None)
            # Docker starts a container again at the lowest free address, not always its own:
            # route it there (a missed start event, or one started while the app was busy).
            routed = {b.container_id: b.address.rsplit(":", 1)[0] for b in backends}
            moved = [c for c in running if c.address != routed.get(c.id)]
            if [c for c in moved if self._routing.follow_address(c.id)]:
                report.readdressed.append(app.name)
                self._record("route_container", app.name, "a container came back at a new address")
        for container in containers:
            if container.id in wanted or container.app in busy:
                continue
            self._runtime.remove_container(container.id, stop_timeout=5)
            report.removed_containers.append(container.name)
            self._record("remove_container", container.app, f"{container.name}: serves no app")
        report.proxy_rewritten = self._routing.ensure_proxy_current()
        if report.proxy_rewritten:
            self._record("rewrite_proxy", None, "the proxy config differed from the apps' routes")
        if self._hygiene is not None:
            self._hygiene.prune_if_full()
        if report.repairs_queued or report.readdressed or report.removed_containers or report.proxy_rewritten:
            logger.info("reconciled: %s", report)
        return report

    def _started_again(self, serving: list[ContainerInfo]) -> list[ContainerInfo]:
        """`serving`, after starting again in place those stopped through Docker's API.

        A start takes one container start; a repair deploy takes that plus a health check
        and a proxy switch. Whatever does not come back is left for the repair.
        """
        if self._keeper is None:
            return serving
        started = set(self._keeper.restart_stopped(serving))
        if not started:
            return serving
        for container in serving:
            if container.id in started:
                self._events.publish(
                    "container",
                    app=container.app,
                    action="replaced",
                    how="restart",
                    container=container.name,
                    release=container.release,
                    replacements=[container.name],
                )
        refreshed = []
        for container in serving:
            try:
                refreshed.append(
                    self._runtime.inspect_container(container.id) if container.id in started else container
                )
            except NotFound:
                continue  # removed meanwhile
        return refreshed

    def _queue_repair(self, app: str, reason: str) -> bool:
        """Queue a repair unless the app is backing off after failed ones (a crash loop)."""
        loop = self._loops.setdefault(app, _CrashLoop())
        if loop.last_repair is not None:
            status = self._store.get_deploy(loop.last_repair).status
            if status is DeployStatus.FAILED:
                loop.failures += 1
                loop.not_before = self._clock() + min(BACKOFF_MAX, BACKOFF_START * 2 ** (loop.failures - 1))
            elif status is DeployStatus.SUCCEEDED:
                loop.failures = 0
            loop.last_repair = None
        if self._clock() < loop.not_before:
            return False
        loop.last_repair = self._deploys.request_repair(app, reason).id
        self._record("queue_repair", app, f"{reason}: repair deploy {loop.last_repair}")
        return True

    def _record(self, action: str, app: str | None, detail: str) -> None:
        if self._audit is not None:
            self._audit.record(actor=RECONCILER, action=action, outcome="ok", app=app, detail=detail)
