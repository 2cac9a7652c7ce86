"""The durable deploy queue's dispatcher: queued rows in the store, run on a bounded pool.

The database is the queue: a request is a `queued` deploy row, so nothing is lost when
the controller dies. The dispatcher runs at most one job per app and, when several apps
wait, starts the app that started a job least recently, so a busy app cannot starve others.
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
    """Claims queued deploys (queued -> running in one statement) and runs `execute` on them."""

    def __init__(self, *, store: Store, workers: int, execute: Callable[[Deploy], None]) -> None:
        self._store = store
        self._workers = workers
        self._execute = execute
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dockyard-job")
        self._cond = threading.Condition()
        self._woken = False
        self._stopped = False
        self._running: dict[str, str] = {}
        self._last_started: dict[str, float] = {}
        self._thread = threading.Thread(target=self._loop, name="dockyard-dispatch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """A deploy was queued or finished: look at the queue now."""
        with self._cond:
            self._woken = True
            self._cond.notify()

    def running(self) -> dict[str, str]:
        """App -> id of the deploy running for it."""
        with self._cond:
            return dict(self._running)

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

    def _dispatch(self) -> None:
        with self._cond:
            free = self._workers - len(self._running)
            busy = set(self._running)
        if free <= 0:
            return
        waiting = [d for d in self._store.next_queued_per_app() if d.app not in busy]
        turn = sorted(waiting, key=lambda d: (self._last_started.get(d.app, 0.0), d.created_at))
        for deploy in turn[:free]:
            if not self._store.claim_deploy(deploy.id):
                continue
            with self._cond:
                if self._stopped:
                    return
                self._running[deploy.app] = deploy.id
                self._last_started[deploy.app] = time.monotonic()
            self._pool.submit(self._run, deploy)

    def _run(self, deploy: Deploy) -> None:
        try:
            self._execute(deploy)
        except Exception:
            logger.exception("deploy %s crashed", deploy.id)
        finally:
            with self._cond:
                self._running.pop(deploy.app, None)
            self.wake()
