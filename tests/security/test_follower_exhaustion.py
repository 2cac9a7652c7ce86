"""Idle log followers against a real controller: no worker thread held, capped, let go.

Scaled down from the report (45 idle `logs?follow=true` streams hung the whole API):
more idle followers than the threadpool has threads, while sync routes (which need the
threadpool) must still answer within 1 s, and after the clients leave every slot and
reader thread is given back.
"""

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import BUSYBOX_IMAGE, write_static_app
from tests.e2e.conftest import TOKEN, Controller, make_controller

pytestmark = pytest.mark.integration

PER_APP = 45  # more than the 40 threads of the threadpool
TOTAL = 60
EVENT_STREAMS = TOTAL - PER_APP
ANSWER_WITHIN = 1.0  # seconds; the bound for an API under attack
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def controller(tmp_path: Path, busybox_image: str) -> Iterator[Controller]:
    ctl = make_controller(
        tmp_path, DOCKYARD_MAX_FOLLOWERS_PER_APP=str(PER_APP), DOCKYARD_MAX_FOLLOWERS=str(TOTAL)
    )
    ctl.start()
    try:
        yield ctl
    finally:
        ctl.cleanup()


def assert_answers_quickly(ctl: Controller, path: str) -> None:
    started = time.monotonic()
    answer = httpx.get(ctl.url + path, headers=HEADERS, timeout=ANSWER_WITHIN)
    assert answer.status_code == 200, answer.text
    assert time.monotonic() - started < ANSWER_WITHIN


@contextlib.contextmanager
def streams(ctl: Controller) -> Iterator[Callable[[str], httpx.Response]]:
    """Open streams with `open(path)`; all are closed (the client goes away) on exit."""
    limits = httpx.Limits(max_connections=TOTAL + 10)
    with (
        httpx.Client(base_url=ctl.url + "/api/v1", timeout=10, limits=limits) as client,
        contextlib.ExitStack() as stack,
    ):
        yield lambda path: stack.enter_context(client.stream("GET", path, headers=HEADERS))


def open_files(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def wait_for(condition: Callable[[], bool], what: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_idle_followers_neither_hang_the_api_nor_outlive_their_clients(
    controller: Controller, tmp_path: Path
) -> None:
    ctl = controller
    assert ctl.process is not None
    ctl.cli("apps", "create", "quiet")
    ctl.cli("deploy", "quiet", "--path", str(write_static_app(tmp_path / "app", body="quiet")))
    fds_before = open_files(ctl.process.pid)
    follow = "/apps/quiet/logs?follow=true&tail=0"

    with streams(ctl) as open_stream:
        assert all(open_stream(follow).status_code == 200 for _ in range(PER_APP))
        assert open_stream(follow).status_code == 429
        assert all(open_stream("/events").status_code == 200 for _ in range(EVENT_STREAMS))
        assert open_stream("/events").status_code == 503
        for _ in range(5):
            assert_answers_quickly(ctl, "/api/v1/apps")  # a sync route: needs the threadpool
            assert_answers_quickly(ctl, "/api/v1/health")

    # The clients have gone: their slots and their log streams from Docker are given back.
    pid = ctl.process.pid
    wait_for(lambda: open_files(pid) <= fds_before + 2, "the log streams from Docker to be closed")
    with streams(ctl) as open_stream:
        assert all(open_stream(follow).status_code == 200 for _ in range(PER_APP))
    assert_answers_quickly(ctl, "/api/v1/apps")


def test_idle_deploy_log_followers_are_capped_and_given_back(controller: Controller, tmp_path: Path) -> None:
    ctl = controller
    context = tmp_path / "slow"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {BUSYBOX_IMAGE}\nRUN sleep 300\n")
    ctl.cli("apps", "create", "slow")
    deploy = json.loads(ctl.cli("deploy", "slow", "--path", str(context), "--no-follow", "--json").stdout)
    log = f"/deploys/{deploy['id']}/log"
    wait_for(lambda: "Running in" in ctl.api("GET", log).text, "the build to reach its long step")

    try:
        for _ in range(2):  # the second round gets the slots the first one gave back
            with streams(ctl) as open_stream:
                assert all(open_stream(log + "?follow=true").status_code == 200 for _ in range(PER_APP))
                assert open_stream(log + "?follow=true").status_code == 429
                assert open_stream(log).status_code == 200  # reading without following takes no slot
                assert_answers_quickly(ctl, "/api/v1/apps")
    finally:
        ctl.api("POST", f"/deploys/{deploy['id']}/cancel")
        wait_for(lambda: ctl.api("GET", f"/deploys/{deploy['id']}").json()["status"] == "cancelled", "cancel")
