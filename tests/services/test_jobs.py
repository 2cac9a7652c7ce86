"""The job runner: one job at a time per app, apps take turns."""

import threading
import time

from controller.services.jobs import JobRunner


def test_jobs_of_one_app_never_overlap_and_apps_interleave() -> None:
    runner = JobRunner(workers=1)
    order: list[str] = []
    running: dict[str, int] = {}
    overlap: list[str] = []
    lock = threading.Lock()
    done = threading.Event()
    total = 12

    def job(app: str) -> None:
        with lock:
            running[app] = running.get(app, 0) + 1
            if running[app] > 1:
                overlap.append(app)
        time.sleep(0.005)
        with lock:
            running[app] -= 1
            order.append(app)
            if len(order) == total:
                done.set()

    gate = threading.Event()
    runner.submit("blocker", gate.wait)
    for _ in range(3):
        for app in ("a", "b", "c", "d"):
            runner.submit(app, lambda app=app: job(app))
    gate.set()
    assert done.wait(10)
    runner.shutdown(wait=True)
    assert not overlap
    assert order[:4] == ["a", "b", "c", "d"], order


def test_a_crashing_job_does_not_wedge_its_app() -> None:
    runner = JobRunner(workers=2)
    ran = threading.Event()

    def boom() -> None:
        raise RuntimeError("boom")

    runner.submit("a", boom)
    runner.submit("a", ran.set)
    assert ran.wait(5)
    runner.shutdown(wait=True)
