"""Half-sent requests and stalled bodies against a real controller: timed out, capped, quiet.

The controller's open files limit is lowered to 512 after it starts, so a scaled-down
flood (a few hundred connections instead of 20,000) would exhaust its descriptors
without the connection cap.
"""

import contextlib
import resource
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import TOKEN, Controller, make_controller

pytestmark = pytest.mark.integration

OPEN_FILES = 512
MAX_CONNECTIONS = 64  # + a few bursts of BACKLOG accepted at once + what the controller has open < 512
BACKLOG = 64
FLOOD = 600  # half-sent requests held open, over the open files limit
CHURN = 600  # more of them opened while the API is being checked
ANSWER_WITHIN = 1.0  # seconds; the bound for an API under attack
APP = "flood"
HALF_SENT = b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


@contextlib.contextmanager
def running_controller(tmp_path: Path, **env: str) -> Iterator[Controller]:
    ctl = make_controller(tmp_path, **env)
    ctl.start()
    try:
        yield ctl
    finally:
        ctl.cleanup()


@pytest.fixture
def flooded_controller(tmp_path: Path, busybox_image: str) -> Iterator[Controller]:
    with running_controller(
        tmp_path,
        DOCKYARD_MAX_CONNECTIONS=str(MAX_CONNECTIONS),
        DOCKYARD_LISTEN_BACKLOG=str(BACKLOG),
        DOCKYARD_HEADER_TIMEOUT="120",
    ) as ctl:
        assert ctl.process is not None
        resource.prlimit(ctl.process.pid, resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))
        assert ctl.api("POST", "/apps", json={"name": APP}).status_code == 201
        yield ctl


@pytest.fixture
def impatient_controller(tmp_path: Path, busybox_image: str) -> Iterator[Controller]:
    with running_controller(tmp_path, DOCKYARD_HEADER_TIMEOUT="2", DOCKYARD_BODY_TIMEOUT="2") as ctl:
        assert ctl.api("POST", "/apps", json={"name": APP}).status_code == 201
        yield ctl


def half_sent(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(HALF_SENT)
    return sock


def assert_answers_quickly(ctl: Controller) -> None:
    started = time.monotonic()
    answer = httpx.get(ctl.url + "/api/v1/health", timeout=ANSWER_WITHIN)
    assert answer.status_code == 200
    assert time.monotonic() - started < ANSWER_WITHIN


def open_files(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def test_a_flood_of_half_sent_requests_does_not_lock_the_api_out(flooded_controller: Controller) -> None:
    ctl = flooded_controller
    assert ctl.process is not None
    attackers = [half_sent(ctl.api_port) for _ in range(FLOOD)]
    stop = threading.Event()

    def churn() -> None:
        for _ in range(CHURN):
            if stop.is_set():
                return
            with contextlib.suppress(OSError):
                attackers.append(half_sent(ctl.api_port))

    churner = threading.Thread(target=churn, daemon=True)
    churner.start()
    try:
        for _ in range(20):
            assert_answers_quickly(ctl)
            assert open_files(ctl.process.pid) < OPEN_FILES
    finally:
        stop.set()
        churner.join(30)
        for sock in attackers:
            sock.close()

    assert_answers_quickly(ctl)
    log = ctl.log_path.read_text()
    assert "to make room" in log
    assert "Too many open files" not in log
    assert len(log.splitlines()) < 500  # refusals and evictions are logged at most once a second


def test_a_connection_over_the_cap_is_refused_clearly(flooded_controller: Controller) -> None:
    """With every connection busy (an upload on its way), one more gets 503 and is closed."""
    ctl = flooded_controller
    busy = [stalled_body(ctl.api_port) for _ in range(MAX_CONNECTIONS)]
    try:
        with socket.create_connection(("127.0.0.1", ctl.api_port), timeout=30) as sock:
            answer = sock.recv(4096)
    finally:
        for sock in busy:
            sock.close()

    assert answer.startswith(b"HTTP/1.1 503 ")
    assert b"too many connections" in answer
    assert_answers_quickly(ctl)


def stalled_body(port: int) -> socket.socket:
    """A build upload whose head the server has read and whose body stops after a few bytes."""
    head = (
        f"POST /api/v1/apps/{APP}/deploys HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/gzip\r\nContent-Length: 1000\r\n\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(head.encode())
    assert sock.recv(4096).startswith(b"HTTP/1.1 100 ")  # the route is reading the body
    sock.sendall(b"\x1f\x8b")
    return sock


def test_a_half_sent_request_head_times_out(impatient_controller: Controller) -> None:
    with half_sent(impatient_controller.api_port) as sock:
        sock.settimeout(30)
        answer = sock.recv(4096)

    assert answer.startswith(b"HTTP/1.1 408 ")


def test_a_stalled_request_body_is_closed(impatient_controller: Controller) -> None:
    with stalled_body(impatient_controller.api_port) as sock:
        answer = sock.recv(4096)

    assert answer == b""  # closed, without waiting for the other 998 bytes
    assert_answers_quickly(impatient_controller)
    assert "Traceback" not in impatient_controller.log_path.read_text()


def test_running_out_of_descriptors_is_logged_once_a_second_and_survived(
    tmp_path: Path, busybox_image: str
) -> None:
    """With far fewer descriptors than the cap assumes, accept() fails: quietly, and not for good."""
    with running_controller(tmp_path, DOCKYARD_HEADER_TIMEOUT="2") as ctl:
        assert ctl.process is not None
        resource.prlimit(ctl.process.pid, resource.RLIMIT_NOFILE, (64, OPEN_FILES))
        attackers: list[socket.socket] = []
        deadline = time.monotonic() + 3
        try:
            while time.monotonic() < deadline and len(attackers) < 3000:
                with contextlib.suppress(OSError):
                    attackers.append(half_sent(ctl.api_port))
        finally:
            for sock in attackers:
                sock.close()
        resource.prlimit(ctl.process.pid, resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))

        deadline = time.monotonic() + 30
        while not _answers(ctl):
            assert time.monotonic() < deadline, "the API did not come back"
            time.sleep(0.2)
        log = ctl.log_path.read_text()

    assert "Too many open files" in log
    assert "more like it" in log
    assert len(log.splitlines()) < 400  # one traceback a second, not one per failed accept


def _answers(ctl: Controller) -> bool:
    try:
        return httpx.get(ctl.url + "/api/v1/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
