"""The batch writer: concurrent requests share writes, each answered with its own outcome."""

import threading
import time

import pytest

from controller.services.batching import BatchWriter


class SlowStore:
    """Writes slowly enough for requests to pile up; refuses odd items."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.down = False

    def write(self, items: list[int]) -> list[int | BaseException]:
        if self.down:
            raise ConnectionError("database gone")
        time.sleep(0.005)
        self.batches.append(list(items))
        return [ValueError(f"odd {item}") if item % 2 else item * 10 for item in items]


def test_concurrent_requests_share_batches_and_each_gets_its_own_outcome() -> None:
    store = SlowStore()
    writer: BatchWriter[int, int] = BatchWriter(store.write, name="test-writer")
    outcomes: dict[int, object] = {}

    def request(item: int) -> None:
        try:
            outcomes[item] = writer.submit(item).result(5)
        except ValueError as exc:
            outcomes[item] = str(exc)

    threads = [threading.Thread(target=request, args=(item,)) for item in range(60)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert outcomes == {item: f"odd {item}" if item % 2 else item * 10 for item in range(60)}
    assert sorted(item for batch in store.batches for item in batch) == list(range(60))
    assert len(store.batches) < 60, "requests waiting together must share a write"


def test_a_failed_batch_fails_its_requests_and_the_writer_goes_on() -> None:
    store = SlowStore()
    writer: BatchWriter[int, int] = BatchWriter(store.write, name="test-writer")
    store.down = True
    with pytest.raises(ConnectionError):
        writer.submit(2).result(5)

    store.down = False
    assert writer.submit(4).result(5) == 40


def test_a_request_is_answered_only_once_its_batch_is_written() -> None:
    gate = threading.Event()
    writing = threading.Event()

    def write(items: list[int]) -> list[int | BaseException]:
        writing.set()
        gate.wait(5)
        return list(items)

    writer: BatchWriter[int, int] = BatchWriter(write, name="test-writer")
    future = writer.submit(1)
    assert writing.wait(5)
    assert not future.done()  # its batch is being written, not written yet
    gate.set()
    assert future.result(5) == 1
