"""Runs deploy jobs on a small thread pool: one job at a time per app, apps take turns."""

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

Job = Callable[[], None]
logger = logging.getLogger(__name__)


class JobRunner:
    """A FIFO per app; an app's next job is handed to the pool only when its last one ended.

    A burst for one app occupies at most one worker, and after each job the app goes to
    the back of the pool's queue, so apps take turns.
    """

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dockyard-job")
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Job]] = {}
        self._busy: set[str] = set()
        self._closed = False

    def submit(self, app: str, job: Job) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the job runner is shut down")
            self._queues.setdefault(app, deque()).append(job)
            if app not in self._busy:
                self._busy.add(app)
                self._pool.submit(self._drain, app)

    def _drain(self, app: str) -> None:
        """Run one job of `app`, then queue the app again behind the other apps' turns."""
        with self._lock:
            queue = self._queues.get(app)
            job = queue.popleft() if queue and not self._closed else None
        if job is not None:
            try:
                job()
            except Exception:
                logger.exception("job of app %s crashed", app)
        with self._lock:
            queue = self._queues.get(app)
            if queue and not self._closed:
                self._pool.submit(self._drain, app)
            else:
                self._busy.discard(app)
                self._queues.pop(app, None)

    def idle(self) -> bool:
        with self._lock:
            return not self._busy

    def shutdown(self, *, wait: bool) -> None:
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)
