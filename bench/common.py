"""Shared pieces of the benchmarks: a real controller, the busybox base image, stats, wrk, memory.

Nothing here asserts a time: the benchmarks print figures and ratios only.
"""

import contextlib
import http.client
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx

from tests.conftest import BUSYBOX_IMAGE, build_busybox_image, write_static_app
from tests.e2e.conftest import BASE_DOMAIN, TOKEN, Controller, free_port, make_controller

__all__ = [
    "BASE_DOMAIN",
    "BUSYBOX_IMAGE",
    "TOKEN",
    "Controller",
    "LiveWatch",
    "WrkResult",
    "api_client",
    "bench_dir",
    "children_of",
    "ensure_busybox",
    "fetch_fresh",
    "free_port",
    "median",
    "p90",
    "print_table",
    "process_memory_kb",
    "run_wrk",
    "running_controller",
    "wait_until",
    "write_static_app",
]


def ensure_busybox(client: docker.DockerClient) -> str:
    """Build (or find in the layer cache) the 2 MB busybox base image the tests use."""
    return build_busybox_image(client)


@contextlib.contextmanager
def bench_dir(name: str) -> Iterator[Path]:
    """A temp dir nginx workers (user nobody) can traverse; removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=f"dockyard-bench-{name}-"))
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def running_controller(tmp: Path, **extra_env: str) -> Iterator[Controller]:
    """A real `dockyard serve` on loopback ports; its containers, images, network removed after."""
    ctl = make_controller(tmp, **extra_env)
    ctl.start()
    try:
        yield ctl
    finally:
        ctl.cleanup()


def api_client(ctl: Controller) -> httpx.Client:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return httpx.Client(base_url=ctl.url + "/api/v1", headers=headers, timeout=120)


def fetch_fresh(host: str, port: int, path: str = "/", *, host_header: str | None = None) -> tuple[int, str]:
    """One GET on a NEW connection (a kept-alive one could still reach an old nginx worker)."""
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host_header or host, "Connection": "close"})
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.005) -> float:
    """Poll `predicate`; return the seconds it took to hold. Raises TimeoutError."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        with contextlib.suppress(OSError, http.client.HTTPException):
            if predicate():
                return time.monotonic() - start
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout} s")


class LiveWatch:
    """From its creation until `body` answers through nginx for `host` (fresh connections).

    Polls on a thread, so the caller can push or deploy meanwhile; `t0` is the start.
    """

    def __init__(self, http_port: int, host: str, body: str, *, timeout: float) -> None:
        self.t0 = time.monotonic()
        self._timeout = timeout
        self._seconds: list[float] = []

        def poll() -> None:
            wait_until(lambda: fetch_fresh("127.0.0.1", http_port, host_header=host) == (200, body), timeout)
            self._seconds.append(time.monotonic() - self.t0)

        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()

    def seconds(self, what: str) -> float:
        """Seconds from `t0` until it answered; RuntimeError naming `what` if it never did."""
        self._thread.join(self._timeout)
        if not self._seconds:
            raise RuntimeError(f"{what} never answered through nginx")
        return self._seconds[0]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def p90(values: Sequence[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[8]


def _is_number(text: str) -> bool:
    return text in ("-", "n/a") or re.fullmatch(r"[-+]?[0-9.,]+[a-zA-Z%x]*", text) is not None


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print an aligned table: numbers right-aligned, text left-aligned."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(_is_number(row[i]) for row in cells[1:]) for i in range(len(headers))]
    for index, row in enumerate(cells):
        parts = [
            cell.rjust(width) if is_num else cell.ljust(width)
            for cell, width, is_num in zip(row, widths, numeric, strict=True)
        ]
        print("  ".join(parts).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))


# -- wrk ----------------------------------------------------------------------------------

_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    requests: int
    non_2xx: int
    socket_errors: int


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unexpected wrk duration {text!r}")
    return float(match[1]) * _UNIT_SECONDS[match[2]] * 1000


def run_wrk(
    url: str, *, host: str | None = None, threads: int = 2, connections: int = 32, duration: str = "10s"
) -> WrkResult:
    """Run wrk with keep-alive (its default) and --latency; parse rps, p50 and errors."""
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}", "--latency"]
    if host:
        argv += ["-H", f"Host: {host}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out)[1])  # type: ignore[index]
    p50 = _duration_ms(re.search(r"\s50%\s+(\S+)", out)[1])  # type: ignore[index]
    requests = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    non_2xx_match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return WrkResult(
        rps=rps,
        p50_ms=p50,
        requests=requests,
        non_2xx=int(non_2xx_match[1]) if non_2xx_match else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


# -- memory -------------------------------------------------------------------------------


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _pss_kb(pid: int) -> int | None:
    rollup = Path(f"/proc/{pid}/smaps_rollup")
    if not rollup.exists():
        return None
    for line in rollup.read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return None


def process_memory_kb(pids: Sequence[int]) -> tuple[int, int | None]:
    """Summed (RSS, PSS) in KiB of `pids`; PSS is None where smaps_rollup is missing."""
    rss = sum(_status_kb(pid, "VmRSS") for pid in pids)
    pss_values = [_pss_kb(pid) for pid in pids]
    pss = None if any(v is None for v in pss_values) else sum(v or 0 for v in pss_values)
    return rss, pss


def children_of(pid: int) -> list[int]:
    """`pid` and all its descendants (read from /proc)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


BENCH_LABEL = "io.dockyard-bench.run"  # on everything a benchmark creates, for its cleanup


@dataclass
class BaselineRun:
    """The raw Docker SDK path a Dockyard deploy is compared with: build, run, first 2xx."""

    build: float
    run: float
    ready: float

    @property
    def total(self) -> float:
        return self.build + self.run + self.ready


def baseline_once(
    client: docker.DockerClient, directory: Path, *, network: str, body: str, run_id: str, tag: str, port: int
) -> BaselineRun:
    """Build `directory`, run it on `network` with PORT=port, and wait until it answers `body`."""
    t0 = time.monotonic()
    image_id = ""
    for chunk in client.api.build(
        path=str(directory), tag=f"{tag}:{run_id}", decode=True, forcerm=True, labels={BENCH_LABEL: run_id}
    ):
        if "error" in chunk:
            raise RuntimeError(chunk["error"])
        image_id = chunk.get("aux", {}).get("ID", image_id)
    t1 = time.monotonic()
    container = client.containers.run(
        image_id,
        detach=True,
        init=True,
        network=network,
        environment={"PORT": str(port)},
        labels={BENCH_LABEL: run_id},
    )
    try:
        container.reload()
        address = container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
        t2 = time.monotonic()
        wait_until(lambda: fetch_fresh(address, port) == (200, body), timeout=30)
        t3 = time.monotonic()
    finally:
        container.remove(force=True)
    return BaselineRun(build=t1 - t0, run=t2 - t1, ready=t3 - t2)
