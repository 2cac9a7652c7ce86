"""The durable deploy queue's dispatcher: queued rows in the store, run on a bounded pool.

The database is the queue: a request is a `queued` deploy row, so nothing is lost when
the controller dies. The dispatcher runs at most one job per app and, when several apps
wait, starts the app that started a job least recently, so a busy app cannot starve others.

Which apps have queued jobs is kept in memory too (read from the database at start, told
by `queued`, checked against the database now and then), so a dispatch costs one indexed
lookup per free worker however long the queue is. For an app `queued` told of, the
dispatcher also counts how many jobs it was told of and has not claimed: when that count
comes to nothing it does not ask the database again (a claim that finds nothing is a write
transaction too) until it is told of another job.
"""

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from controller.domain.models import Deploy, DeployKind
from controller.services.ports import Store

logger = logging.getLogger(__name__)
IDLE_POLL = 1.0
RESYNC_INTERVAL = 10.0  # seconds between re-reads of which apps have queued jobs


@dataclass(frozen=True)
class JobContext:
    """What the handler of a job kind gets: the job, its parameters, its log, its cancel flag."""

    job: Deploy
    params: dict[str, Any]
    log: Callable[[str], None]
    cancel: threading.Event


JobHandler = Callable[[JobContext], None]


class JobQueue(Protocol):
    """The queue as other services see it: run their kinds of job, one job at a time per app."""

    def handle(self, kind: DeployKind, handler: JobHandler) -> None: ...

    def request_job(
        self, app: str, kind: DeployKind, params: dict[str, Any], description: str, *, coalesce: bool = False
    ) -> Deploy: ...

    def wait(self, deploy_id: str, timeout: float) -> Deploy: ...


class Dispatcher:
    """Claims queued deploys (queued -> running in one statement) and runs `execute` on them
    with their parameters.

    At most `workers` builds run at once (they are what loads the machine); up to
    `other_workers` jobs of the other kinds (config, scale, restart, repair, rollback,
    certificate) run next to them, so a long build of one app never holds up the repair
    of another app's crashed container or a certificate renewal.
    """

    def __init__(
        self,
        *,
        store: Store,
        workers: int,
        execute: Callable[[Deploy, dict[str, Any]], None],
        other_workers: int = 0,
    ) -> None:
        self._store = store
        self._build_slots = workers
        self._max_jobs = workers + other_workers
        self._execute = execute
        self._pool = ThreadPoolExecutor(max_workers=self._max_jobs, thread_name_prefix="dockyard-job")
        self._cond = threading.Condition()
        self._woken = False
        self._stopped = False
        self._running: dict[str, Deploy] = {}  # app -> its running job
        self._last_started: dict[str, float] = {}
        self._waiting: dict[str, float] = {}  # app -> since when (epoch seconds) it has jobs queued
        self._signals: dict[str, int] = {}  # app -> how often `queued` was called for it
        # app -> jobs `queued` told of and not claimed since; absent: unknown (claim until none is left)
        self._told: dict[str, int] = {}
        self._synced_at = 0.0
        self._thread = threading.Thread(target=self._loop, name="dockyard-dispatch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """A deploy finished or changed state: look at the queue now."""
        with self._cond:
            self._woken = True
            self._cond.notify()

    def queued(self, app: str, count: int = 1) -> None:
        """`count` jobs of `app` were stored as queued: consider the app and look at the queue now."""
        with self._cond:
            if app not in self._waiting:
                self._told[app] = 0  # it had none left: the count starts from here
            self._waiting.setdefault(app, time.time())
            if app in self._told:
                self._told[app] += count
            self._signals[app] = self._signals.get(app, 0) + 1
            self._woken = True
            self._cond.notify()

    def running(self) -> dict[str, str]:
        """App -> id of the deploy running for it."""
        with self._cond:
            return {app: deploy.id for app, deploy in self._running.items()}

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._woken and not self._stopped:
                    self._cond.wait(IDLE_POLL)
                if self._stopped:
                    return
                self._woken = False
            try:
                self._dispatch()
            except Exception:
                logger.exception("dispatching queued deploys failed; retrying")

    def _resync(self) -> None:
        """Read which apps have queued jobs from the database (at start, then now and then)."""
        queued = self._store.queued_apps()
        with self._cond:
            for app, since in queued.items():
                if app not in self._waiting:
                    self._told.pop(app, None)  # queued without a word: claim until none is left
                self._waiting.setdefault(app, since.timestamp())
            self._synced_at = time.monotonic()

    def _dispatch(self) -> None:
        if time.monotonic() - self._synced_at >= RESYNC_INTERVAL:
            self._resync()
        with self._cond:
            free = self._max_jobs - len(self._running)
            builds_free = self._build_slots - sum(d.kind is DeployKind.BUILD for d in self._running.values())
            apps = [app for app in self._waiting if app not in self._running]
            turn = sorted(apps, key=lambda app: (self._last_started.get(app, 0.0), self._waiting[app]))
        for app in turn:
            if free <= 0:
                return
            with self._cond:
                signals = self._signals.get(app, 0)
            claimed = self._store.claim_next(app, builds=builds_free > 0)
            if claimed is None:
                if builds_free <= 0 and self._store.queued_deploys(1, app=app):
                    continue  # its next job is a build: it waits for a slot, other apps go on
                with self._cond:
                    if self._signals.get(app, 0) == signals:  # nothing was queued meanwhile
                        self._waiting.pop(app, None)
                        self._told.pop(app, None)
                continue
            deploy, params = claimed
            is_build = deploy.kind is DeployKind.BUILD
            with self._cond:
                if self._stopped:
                    return
                self._running[deploy.app] = deploy
                self._last_started[deploy.app] = time.monotonic()
                told = self._told.get(app)
                if told is not None:
                    self._told[app] = told - 1
                    if told <= 1:  # every job it was told of is claimed: none to look for
                        self._waiting.pop(app, None)
                        self._told.pop(app, None)
            free -= 1
            builds_free -= is_build
            self._pool.submit(self._run, deploy, params)

    def _run(self, deploy: Deploy, params: dict[str, Any]) -> None:
        try:
            self._execute(deploy, params)
        except Exception:
            logger.exception("deploy %s crashed", deploy.id)
        finally:
            with self._cond:
                self._running.pop(deploy.app, None)
            self.wake()
