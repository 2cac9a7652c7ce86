"""HttpProber against small servers on 127.0.0.1: statuses, and OSError when no HTTP answer comes."""

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from controller.adapters.http_probe import HttpProber


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code = int(self.path.split("/")[2]) if self.path.startswith("/status/") else 200
        self.server.seen_paths.append(self.path)  # type: ignore[attr-defined]
        self.send_response(code)
        if code in (301, 302):
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[tuple[str, ThreadingHTTPServer]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.seen_paths = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()
    server.server_close()


@pytest.fixture
def raw_server() -> Iterator[tuple[socket.socket, int]]:
    """A listening socket the test answers by hand (or not at all)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    yield listener, listener.getsockname()[1]
    listener.close()


def _answer_once(listener: socket.socket, reply: bytes) -> None:
    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(4096)
            connection.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()


@pytest.mark.parametrize("code", [200, 204, 302, 404, 500, 503])
def test_reports_the_status_without_following_redirects(
    http_server: tuple[str, ThreadingHTTPServer], code: int
) -> None:
    base, _ = http_server
    assert HttpProber().http_status(f"{base}/status/{code}", timeout=2) == code


def test_sends_path_and_query(http_server: tuple[str, ThreadingHTTPServer]) -> None:
    base, server = http_server
    assert HttpProber().http_status(f"{base}/health?deep=1", timeout=2) == 200
    assert HttpProber().http_status(base, timeout=2) == 200
    assert server.seen_paths == ["/health?deep=1", "/"]  # type: ignore[attr-defined]


def test_refused_connection_is_an_oserror() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OSError):
        HttpProber().http_status(f"http://127.0.0.1:{port}/", timeout=2)


def test_silent_server_times_out_as_an_oserror(raw_server: tuple[socket.socket, int]) -> None:
    _, port = raw_server
    started = time.monotonic()
    with pytest.raises(OSError):
        HttpProber().http_status(f"http://127.0.0.1:{port}/", timeout=0.3)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("reply", [b"SSH-2.0-OpenSSH_9.2\r\n", b""], ids=["not-http", "closed"])
def test_non_http_answer_is_an_oserror(raw_server: tuple[socket.socket, int], reply: bytes) -> None:
    listener, port = raw_server
    _answer_once(listener, reply)
    with pytest.raises(OSError):
        HttpProber().http_status(f"http://127.0.0.1:{port}/", timeout=2)


def test_rejects_other_schemes() -> None:
    with pytest.raises(ValueError, match="not an http"):
        HttpProber().http_status("ftp://127.0.0.1/", timeout=1)
