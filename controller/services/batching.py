"""Durable writes of concurrent requests, batched: one writer thread, one transaction a batch.

A burst of requests (deploy requests, webhook deliveries) would otherwise queue one by one
on the database's single writer, each paying for its own transaction and waking the next
waiter in turn. Here each request hands its item to a queue; the writer thread takes
everything waiting, writes it with one call, and completes each request's future with its
own outcome. A request is answered only once its item is committed, so nothing
acknowledged is ever lost.
"""

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)
MAX_BATCH = 256

T = TypeVar("T")
R = TypeVar("R")


class BatchWriter(Generic[T, R]):
    """Calls `write` on batches of submitted items; an outcome that is an exception is raised.

    `write` gets the items in submission order and returns one outcome per item; if it
    raises, every item of the batch fails with that error and the writer goes on.
    """

    def __init__(self, write: Callable[[list[T]], Sequence[R | BaseException]], *, name: str) -> None:
        self._write = write
        self._name = name
        self._items: queue.SimpleQueue[tuple[T, Future[R]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, item: T) -> Future[R]:
        """Queue `item`; the future completes with its outcome once its batch is written."""
        future: Future[R] = Future()
        self._ensure_started()
        self._items.put((item, future))
        return future

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            batch = [self._items.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._items.get_nowait())
                except queue.Empty:
                    break
            self._write_batch(batch)

    def _write_batch(self, batch: list[tuple[T, Future[R]]]) -> None:
        try:
            outcomes = self._write([item for item, _ in batch])
        except Exception as failure:  # the whole batch failed (e.g. the database is gone)
            logger.warning("%s: a batch of %d failed: %s", self._name, len(batch), failure)
            outcomes = [failure] * len(batch)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
