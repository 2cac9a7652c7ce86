"""The first fetch of `dockyard tui` over the standard library (tui/start.py's PlainHttp) gives
what the httpx client gives: the same requests, answers and error messages, against a real
local HTTP server; anything but plain HTTP without a proxy keeps the httpx client."""

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.tui import fake_api
from tui import start
from tui.client import ApiError, Target, Unreachable
from tui.start import FirstFetch, PlainHttp, prefetch

pytestmark = pytest.mark.tui

HINT = "the token in DOCKYARD_TOKEN was refused: set DOCKYARD_TOKEN"
Handler = Callable[[httpx.Request], httpx.Response]


class Server:
    """fake_api (or `handler`) served over real HTTP/1.1 keep-alive, each request's path kept."""

    def __init__(self, handler: Handler = fake_api.handler) -> None:
        self.handler = handler
        self.paths: list[str] = []
        self.connections = 0
        self.drop_after_answer = False  # close the connection without saying so (keep-alive lost)
        server = self

        class Answer(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                server.connections += 1

            def do_GET(self) -> None:
                server.paths.append(self.path)
                request = httpx.Request("GET", "http://dy.test" + self.path, headers=dict(self.headers))
                response = server.handler(request)
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() not in ("content-length", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)
                if server.drop_after_answer:
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
        self.http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    served = Server()
    yield served
    served.close()


by_httpx = start.fetch_with_client
by_stdlib = start.fetch_plain


def comparable(answer: Any) -> Any:
    """An answer, with an ApiError as its class, message and status (exceptions are not ==)."""
    return (type(answer).__name__, str(answer), answer.status) if isinstance(answer, ApiError) else answer


def answers_of(first: FirstFetch) -> list[Any]:
    details = {name: comparable(answer) for name, answer in first.details.items()}
    return [comparable(first.apps), comparable(first.deploys), comparable(first.whoami), details]


def errors_of(first: FirstFetch) -> list[tuple[str, str, int | None]]:
    return [
        (type(answer).__name__, str(answer), answer.status)
        for answer in (first.apps, first.deploys, first.whoami, *first.details.values())
        if isinstance(answer, ApiError)
    ]


def test_the_same_requests_and_answers_as_the_httpx_client(server: Server) -> None:
    target = Target(server.url + "/", "good", HINT)
    plain = by_stdlib(target)
    plain_paths = sorted(server.paths)
    assert server.connections == 1  # one keep-alive connection for the 27 requests
    server.paths.clear()
    assert answers_of(plain) == answers_of(by_httpx(target))
    assert plain_paths == sorted(server.paths)  # "[red]evil[/]" quoted alike too
    assert "/api/v1/deploys?limit=500" in plain_paths
    assert set(plain.details) == set(fake_api.APPS) and plain.details["shop"] == fake_api.details("shop")


def test_a_path_in_the_url_prefixes_the_api(server: Server) -> None:
    by_stdlib(Target(server.url + "/behind/", "good", HINT))
    plain_paths = sorted(server.paths)
    server.paths.clear()
    by_httpx(Target(server.url + "/behind/", "good", HINT))
    assert plain_paths == sorted(server.paths)
    assert "/behind/api/v1/apps" in plain_paths


def test_a_refused_token_has_the_same_message_with_its_hint(server: Server) -> None:
    target = Target(server.url, "wrong", HINT)
    plain = by_stdlib(target)
    assert isinstance(plain.apps, ApiError) and plain.apps.status == 401
    assert str(plain.apps) == f"invalid or missing API token (HTTP 401); {HINT}"
    assert errors_of(plain) == errors_of(by_httpx(target))
    assert plain.details == {}


ANSWERS: list[tuple[int, dict[str, str], bytes]] = [
    (403, {"content-type": "application/json"}, b'{"detail": "viewers may not do this"}'),
    (422, {"content-type": "application/json"}, b'{"detail": [{"msg": "bad"}, "worse", {"x": 1}]}'),
    (500, {"content-type": "text/plain"}, b"Internal Server Error"),
    (502, {"content-type": "text/html; charset=iso-8859-1"}, b"<p>caf\xe9</p>"),
    (503, {"content-type": "text/plain; charset=nonsense"}, b"caf\xc3\xa9 \xff"),
    (401, {"content-type": "application/json"}, b'["not a dict"]'),
    (404, {}, b""),
]


@pytest.mark.parametrize(("status", "headers", "body"), ANSWERS)
def test_error_answers_have_the_same_message(status: int, headers: dict[str, str], body: bytes) -> None:
    served = Server(lambda request: httpx.Response(status, headers=headers, content=body))
    try:
        target = Target(served.url, "good", HINT)
        plain, other = by_stdlib(target), by_httpx(target)
    finally:
        served.close()
    assert errors_of(plain) == errors_of(other)
    assert isinstance(plain.apps, ApiError) and plain.apps.status == status
    # whoami: a controller without the endpoint (404, 405) is None
    assert plain.whoami is None if status == 404 else isinstance(plain.whoami, ApiError)


def test_a_keep_alive_connection_the_server_dropped_is_opened_again(server: Server) -> None:
    server.drop_after_answer = True
    plain = by_stdlib(Target(server.url, "good", HINT))
    assert isinstance(plain.apps, list) and len(plain.details) == len(fake_api.APPS)
    assert server.connections == 3 + len(fake_api.APPS)  # one per request


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_unreachable_controller_is_one_unreachable_error() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    plain, other = by_stdlib(Target(url, "good", HINT)), by_httpx(Target(url, "good", HINT))
    for first in (plain, other):
        assert isinstance(first.apps, Unreachable)
        assert str(first.apps).startswith(f"cannot reach Dockyard at {url}: ")
        assert isinstance(first.deploys, Unreachable) and isinstance(first.whoami, Unreachable)
    refused = f"cannot reach Dockyard at {url}: All connection attempts failed"  # anyio's words
    assert str(plain.apps) == str(other.apps) == refused


def run_tui(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_tui_exits_2_with_one_line_when_the_controller_is_down_or_refuses() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    down = run_tui({"DOCKYARD_URL": url, "DOCKYARD_TOKEN": "good"})
    assert down.returncode == 2
    assert down.stderr.startswith(f"error: cannot reach Dockyard at {url}: ")
    assert down.stderr.count("\n") == 1 and "Traceback" not in down.stderr

    served = Server()
    try:
        refused = run_tui({"DOCKYARD_URL": served.url, "DOCKYARD_TOKEN": "wrong"})
    finally:
        served.close()
    assert refused.returncode == 2
    assert refused.stderr == (
        "error: invalid or missing API token (HTTP 401); the token in DOCKYARD_TOKEN was refused: "
        "set DOCKYARD_TOKEN to an API token of this controller (export DOCKYARD_TOKEN=...)\n"
    )


HTML = b"<!DOCTYPE html>\n<html><body><h1>Welcome to nginx!</h1></body></html>\n"


@pytest.mark.parametrize("status", [200, 404])
def test_a_server_that_is_not_dockyard_is_named_in_one_line_and_exits_2(status: int) -> None:
    """Another web server at DOCKYARD_URL (an HTML page, even with 200): one line, no page."""
    served = Server(
        lambda request: httpx.Response(status, headers={"content-type": "text/html"}, content=HTML)
    )
    try:
        target = Target(served.url, "good", HINT)
        plain, other = by_stdlib(target), by_httpx(target)
        run = run_tui({"DOCKYARD_URL": served.url, "DOCKYARD_TOKEN": "good"})
    finally:
        served.close()
    assert errors_of(plain) == errors_of(other)
    message = f"an HTML page, not an answer of Dockyard's API (is DOCKYARD_URL right?) (HTTP {status})"
    assert isinstance(plain.apps, ApiError) and str(plain.apps) == message
    assert run.returncode == 2 and run.stderr == f"error: {message}\n"


@pytest.mark.parametrize(
    ("url", "env", "plain"),
    [
        ("http://127.0.0.1:8000", {}, True),
        ("HTTP://localhost:8000/dy/", {"HTTPS_PROXY": "http://proxy:3128"}, True),
        ("http://127.0.0.1:8000", {"HTTP_PROXY": "http://proxy:3128"}, False),
        ("http://127.0.0.1:8000", {"http_proxy": "http://proxy:3128"}, False),
        ("http://127.0.0.1:8000", {"ALL_PROXY": "socks5://proxy:1080"}, False),
        ("http://127.0.0.1:8000", {"all_proxy": "http://proxy:3128", "NO_PROXY": "*"}, False),
        ("http://127.0.0.1:8000", {"HTTP_PROXY": ""}, True),
        ("https://dockyard.example.com", {}, False),
        ("http://user:secret@127.0.0.1:8000", {}, False),
        ("http://127.0.0.1:8000/?x=1", {}, False),
        ("http://127.0.0.1:port", {}, False),
        ("http://", {}, False),
        ("127.0.0.1:8000", {}, False),
    ],
)
def test_plain_http_only_when_no_proxy_may_apply(url: str, env: dict[str, str], plain: bool) -> None:
    assert PlainHttp.serves(Target(url, "t", ""), env) is plain


def test_a_proxy_in_the_environment_keeps_the_httpx_client(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(self: PlainHttp, *, screenful: bool = False) -> FirstFetch:
        raise AssertionError("the stdlib fetch was used")

    monkeypatch.setattr(start.PlainHttp, "first_fetch", refused)
    # A proxy set but bypassed for this host (httpx reads NO_PROXY): still httpx's business.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    first = prefetch(Target(server.url, "good", HINT))
    assert isinstance(first.apps, list) and len(first.details) == len(fake_api.APPS)


def test_the_first_fetch_and_the_console_imports_do_not_import_httpx(server: Server) -> None:
    code = (
        "import sys\n"
        "from tui.start import prefetch\n"
        "from tui.target import Target\n"
        f"first = prefetch(Target({server.url!r}, 'good', ''))\n"
        "import tui.app, tui.client\n"
        "assert isinstance(first.apps, list), first.apps\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('httpx', 'httpcore', 'certifi')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "all_proxy")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"


def test_a_connection_that_times_out_is_named_as_httpx_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_answer(*args: Any, **kwargs: Any) -> socket.socket:
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", no_answer)
    first = by_stdlib(Target("http://10.0.0.1:8000", "good", HINT))
    # httpx: ConnectTimeout, with the empty message of anyio's TimeoutError
    assert str(first.apps) == "cannot reach Dockyard at http://10.0.0.1:8000: ConnectTimeout"
