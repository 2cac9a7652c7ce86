"""The nginx adapter against a real nginx: routing, zero-error swaps, rejection, adoption, detachment."""

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from controller.adapters.nginx import TEMPLATES_DIR, NginxProxy, render_sites
from controller.adapters.nginx_process import check_config, is_alive, running_master
from controller.adapters.nginx_render import NginxTunables
from controller.domain.errors import ProxyConfigRejected
from controller.domain.models import Site

pytestmark = pytest.mark.integration

DRAIN_TIMEOUT = 10.0
REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _TrackingServer(ThreadingHTTPServer):
    """Remembers open connections, so closing it drops keep-alive connections like a stopped container."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), handler)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)


class Backend:
    """An HTTP/1.1 keep-alive server on 127.0.0.1 that answers its name (and /headers as JSON)."""

    def __init__(self, name: str, port: int = 0) -> None:
        self.name = name

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def do_GET(self) -> None:
                if self.path == "/headers":
                    body = json.dumps(dict(self.headers.items())).encode()
                else:
                    body = name.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = _TrackingServer(Handler, port)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()
        self.closed = False

    def close(self) -> None:
        """Stop listening and cut every open connection, as stopping a container does."""
        if self.closed:
            return
        self.closed = True
        self.server.shutdown()
        self.server.server_close()
        with self.server.connections_lock:
            for connection in self.server.connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def backend() -> Iterator[Callable[..., Backend]]:
    started: list[Backend] = []

    def start(name: str, port: int = 0) -> Backend:
        started.append(Backend(name, port))
        return started[-1]

    yield start
    for server in started:
        server.close()


@pytest.fixture
def prefix(tmp_path: Path) -> Iterator[Path]:
    """A fresh nginx prefix; whatever master runs there is stopped at the end."""
    path = tmp_path / "nginx"
    yield path
    master = running_master(path)
    if master is not None:
        os.kill(master, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while is_alive(master) and time.monotonic() < deadline:
            time.sleep(0.02)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def make_proxy(prefix: Path, port: int) -> Iterator[Callable[..., NginxProxy]]:
    made: list[NginxProxy] = []

    def make(**overrides: object) -> NginxProxy:
        options: dict[str, object] = {
            "prefix": prefix,
            "listen_addr": "127.0.0.1",
            "http_port": port,
            "drain_timeout": DRAIN_TIMEOUT,
        }
        made.append(NginxProxy(**{**options, **overrides}))  # type: ignore[arg-type]
        return made[-1]

    yield make
    if made:
        made[0].stop()


def get(port: int, host: str, path: str = "/") -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def nginx_masters_of(prefix: Path) -> list[int]:
    conf = str(prefix / "nginx.conf")
    masters = []
    for entry in Path("/proc").iterdir():
        try:
            words = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().split()
        except (OSError, UnicodeDecodeError):
            continue
        if words[:3] == ["nginx:", "master", "process"] and conf in words and is_alive(int(entry.name)):
            masters.append(int(entry.name))
    return masters


def test_routes_by_host_header_and_unknown_hosts_get_404(
    make_proxy: Callable[..., NginxProxy], backend: Callable[[str], Backend], port: int
) -> None:
    web = backend("web-v1")
    proxy = make_proxy()

    proxy.ensure_running(
        [Site("web", ("web.test", "www.web.test"), (web.address,)), Site("idle", ("idle.test",))]
    )

    assert get(port, "web.test") == (200, "web-v1")
    assert get(port, "www.web.test:8080") == (200, "web-v1")
    status, body = get(port, "unknown.test")
    assert status == 404 and body.endswith("\n") and len(body) < 80
    assert get(port, "idle.test")[0] == 503
    status, body = get(port, "web.test", "/headers")
    headers = {key.lower(): value for key, value in json.loads(body).items()}
    assert headers["host"] == "web.test"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-real-ip"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"] == "web.test"


class KeepAliveClient(threading.Thread):
    """Sends back-to-back requests on one keep-alive connection; records every failure.

    nginx closes idle keep-alive connections when an old worker shuts down after a reload,
    so a request already sent on such a connection meets a closed socket. Like browsers
    (RFC 9112, 9.3.1) the client then retries once on a new connection and counts it in
    `retried`; any other connection error, and every non-2xx answer, is a failure.
    """

    def __init__(self, port: int, host: str, max_requests: int = 50_000, max_seconds: float = 60) -> None:
        super().__init__(daemon=True)
        self.port, self.host = port, host
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.stop = threading.Event()
        self.bodies: dict[str, int] = {}
        self.failures: list[str] = []
        self.requests = 0
        self.retried = 0

    def run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        reused = False
        while not self.stop.is_set() and self.requests < self.max_requests and time.monotonic() < deadline:
            self.requests += 1
            try:
                try:
                    response = self._send(connection)
                except ConnectionError:
                    if not reused:
                        raise
                    self.retried += 1
                    connection.close()
                    response = self._send(connection)
                body = response.read().decode()
                reused = not response.will_close
            except (OSError, http.client.HTTPException) as error:
                self.failures.append(f"request {self.requests}: {error!r}")
                connection.close()
                reused = False
                continue
            if not 200 <= response.status < 300:
                self.failures.append(f"request {self.requests}: HTTP {response.status}")
            self.bodies[body] = self.bodies.get(body, 0) + 1
        connection.close()

    def _send(self, connection: http.client.HTTPConnection) -> http.client.HTTPResponse:
        connection.request("GET", "/", headers={"Host": self.host})
        return connection.getresponse()


def test_apply_switches_backends_without_a_single_failed_request(
    make_proxy: Callable[..., NginxProxy], backend: Callable[[str], Backend], port: int
) -> None:
    current = backend("blue")
    proxy = make_proxy()
    proxy.ensure_running([Site("web", ("web.test",), (current.address,))])
    client = KeepAliveClient(port, "web.test")
    client.start()
    time.sleep(0.2)

    try:
        for swap in range(10):
            # A blue/green deploy: start the new backend, switch, then stop the old one at once.
            new = backend("green" if swap % 2 == 0 else "blue")
            proxy.apply([Site("web", ("web.test",), (new.address,))])
            current.close()
            current = new
            assert [get(port, "web.test")[1] for _ in range(5)] == [new.name] * 5
            time.sleep(0.05)
    finally:
        client.stop.set()
        client.join(timeout=10)

    assert client.failures == []
    assert client.retried <= 2 * 10, "more than the one idle close per reload and connection"
    assert client.requests > 500
    assert set(client.bodies) == {"blue", "green"}


def test_a_replica_back_from_a_crash_serves_again_within_seconds(
    make_proxy: Callable[..., NginxProxy], backend: Callable[..., Backend], port: int
) -> None:
    """Replica a crashes and comes back (Docker's restart, here at the same address); a few seconds later
    replica b crashes: a serves every request. With nginx's default fail_timeout (10 s) a
    worker that saw a fail left it alone, and answered 502 with a running replica."""
    a, b = backend("a"), backend("b")
    proxy = make_proxy(tunables=NginxTunables(worker_processes=1))  # one worker: one fail state
    proxy.ensure_running([Site("web", ("web.test",), (a.address, b.address))])
    assert {get(port, "web.test")[1] for _ in range(10)} == {"a", "b"}

    a_port = int(a.address.rsplit(":", 1)[1])
    a.close()
    assert [get(port, "web.test") for _ in range(10)] == [(200, "b")] * 10  # a failed: marked
    backend("a", a_port)  # restarted where it was
    time.sleep(2.5)
    b.close()
    assert [get(port, "web.test") for _ in range(20)] == [(200, "a")] * 20


def test_config_nginx_refuses_is_rolled_back_and_old_backend_keeps_serving(
    make_proxy: Callable[..., NginxProxy], backend: Callable[[str], Backend], port: int, tmp_path: Path
) -> None:
    old, new = backend("old"), backend("new")
    proxy = make_proxy()
    proxy.ensure_running([Site("web", ("web.test",), (old.address,))])
    before = proxy.sites_path.read_bytes()
    broken_templates = tmp_path / "broken-templates"
    shutil.copytree(TEMPLATES_DIR, broken_templates)
    with (broken_templates / "sites.conf.j2").open("a") as template:
        template.write("bogus_directive on;\n")
    broken = make_proxy(templates_dir=broken_templates)

    with pytest.raises(ProxyConfigRejected, match='unknown directive "bogus_directive"'):
        broken.apply([Site("web", ("web.test",), (new.address,))])

    assert proxy.sites_path.read_bytes() == before
    assert "bogus_directive" in (proxy.prefix / "sites.conf.rejected").read_text()
    assert get(port, "web.test") == (200, "old")
    proxy.apply([Site("web", ("web.test",), (new.address,))])
    assert get(port, "web.test") == (200, "new")


def test_second_instance_adopts_the_running_master(
    make_proxy: Callable[..., NginxProxy], backend: Callable[[str], Backend], port: int, prefix: Path
) -> None:
    one, two = backend("one"), backend("two")
    first = make_proxy()
    first.ensure_running([Site("web", ("web.test",), (one.address,))])
    master = first.master_pid()

    second = make_proxy()
    second.ensure_running([Site("web", ("web.test",), (one.address,))])
    second.apply([Site("web", ("web.test",), (two.address,))])

    assert master is not None
    assert second.master_pid() == master
    assert nginx_masters_of(prefix) == [master]
    assert get(port, "web.test") == (200, "two")


ORPHAN_SCRIPT = """
import os, signal, sys
from pathlib import Path
from controller.adapters.nginx import NginxProxy
from controller.domain.models import Site
proxy = NginxProxy(prefix=Path(sys.argv[1]), listen_addr="127.0.0.1", http_port=int(sys.argv[2]))
proxy.ensure_running([Site("web", ("web.test",), (sys.argv[3],))])
print(proxy.master_pid(), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_nginx_keeps_serving_after_the_controller_is_killed(
    make_proxy: Callable[..., NginxProxy], backend: Callable[[str], Backend], port: int, prefix: Path
) -> None:
    web = backend("web")
    controller = subprocess.run(
        [sys.executable, "-c", ORPHAN_SCRIPT, str(prefix), str(port), web.address],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )

    assert controller.returncode == -signal.SIGKILL, controller.stderr
    master = int(controller.stdout.strip())
    # The controller is dead and reaped: whatever its death did to nginx has happened.
    assert is_alive(master)
    assert get(port, "web.test") == (200, "web")
    restarted = make_proxy()
    restarted.ensure_running(None)
    assert restarted.master_pid() == master
    assert get(port, "web.test") == (200, "web")


def dead_pid() -> int:
    finished = subprocess.Popen(["true"])
    finished.wait()
    return finished.pid


@pytest.mark.parametrize("stale_pid", [dead_pid, os.getpid], ids=["dead", "not-nginx"])
def test_stale_pid_file_does_not_block_a_fresh_start(
    make_proxy: Callable[..., NginxProxy],
    backend: Callable[[str], Backend],
    port: int,
    prefix: Path,
    stale_pid: Callable[[], int],
) -> None:
    web = backend("web")
    prefix.mkdir(parents=True)
    pid = stale_pid()
    (prefix / "nginx.pid").write_text(f"{pid}\n")
    proxy = make_proxy()

    proxy.apply([Site("web", ("web.test",), (web.address,))])

    master = proxy.master_pid()
    assert master is not None and master != pid
    assert get(port, "web.test") == (200, "web")


def test_stop_quits_the_master_and_is_idempotent(
    make_proxy: Callable[..., NginxProxy], prefix: Path, port: int
) -> None:
    proxy = make_proxy()
    proxy.ensure_running([])
    master = proxy.master_pid()
    assert master is not None

    proxy.stop()
    proxy.stop()

    assert not is_alive(master)
    assert nginx_masters_of(prefix) == []
    with pytest.raises(OSError):
        get(port, "web.test")


def test_a_thousand_apps_pass_nginx_t_without_warnings(
    make_proxy: Callable[..., NginxProxy], prefix: Path, port: int, caplog: pytest.LogCaptureFixture
) -> None:
    longest = ".".join(["a" * 63] * 3 + ["b" * 61])
    sites = [
        Site(
            f"app{n}",
            (f"app{n}.example.com", f"www.app{n}.example.com"),
            (f"10.0.{n // 250}.{n % 250 + 1}:8080",),
        )
        for n in range(1000)
    ] + [Site("long", (longest,), ("10.1.0.1:80",))]
    proxy = make_proxy()
    proxy.ensure_running([])

    started = time.monotonic()
    proxy.apply(sites)
    elapsed = time.monotonic() - started

    passed, output = check_config("nginx", prefix)
    assert passed and output == ""
    assert not [record for record in caplog.records if "nginx -t" in record.getMessage()]
    assert elapsed < DRAIN_TIMEOUT
    assert proxy.sites_path.read_text() == render_sites(
        sites,
        listen_addr="127.0.0.1",
        http_port=port,
        overrides_dir=proxy.overrides_dir,
        access_log_dir=proxy.access_log_dir,
    )
