"""Zero downtime: consecutive redeploys of one app while client threads hammer it through nginx.

Each client thread keeps one HTTP/1.1 keep-alive connection (http.client) and sends GETs
with the app's Host header. A request that fails on a REUSED connection before any answer
(nginx closed the idle keep-alive connection as its old worker exited after a reload) is
retried once on a new connection, as browsers and HTTP clients do: counted apart as
"retried on reused conn". Everything else is a failure: a non-2xx answer, an error on a
fresh connection, or a retry that fails too.

    .venv/bin/python -m bench.zero_downtime [REDEPLOYS] [THREADS]
"""

import http.client
import sys
import threading
import time
from collections import Counter

from bench.common import (
    BASE_DOMAIN,
    bench_dir,
    ensure_busybox,
    median,
    print_table,
    running_controller,
    write_static_app,
)

APP = "zdt"
CLOSED_BEFORE_ANSWER = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class Load:
    """Client threads, each with one keep-alive connection, counting every outcome."""

    def __init__(self, port: int, host: str, threads: int) -> None:
        self._port = port
        self._host = host
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.bodies: Counter[str] = Counter()
        self.retried_ok = 0
        self.failures: list[str] = []
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _once(self, conn: http.client.HTTPConnection) -> tuple[int, str]:
        conn.request("GET", "/", headers={"Host": self._host})
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace").strip()

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self._port, timeout=10)
        while not self._stop.is_set():
            reused = conn.sock is not None
            retried = False
            try:
                try:
                    status, body = self._once(conn)
                except CLOSED_BEFORE_ANSWER:
                    conn.close()
                    if not reused:
                        raise
                    retried = True
                    status, body = self._once(conn)
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                with self._lock:
                    self.failures.append(f"{'retry: ' if retried else ''}{exc!r}")
                continue
            with self._lock:
                self.statuses[status] += 1
                self.bodies[body] += 1
                self.retried_ok += int(retried and 200 <= status < 300)
        conn.close()

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.statuses.values()) + len(self.failures)

    @property
    def non_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


def main() -> None:
    redeploys = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    import docker

    client = docker.from_env()
    ensure_busybox(client)
    client.close()
    durations: list[float] = []
    with bench_dir("zdt") as tmp, running_controller(tmp) as ctl:
        ctl.cli("apps", "create", APP)
        src = tmp / "src"
        ctl.cli("deploy", APP, "--path", str(write_static_app(src, body="v0")))
        with Load(ctl.http_port, f"{APP}.{BASE_DOMAIN}", threads) as load:
            start = time.monotonic()
            time.sleep(1)
            for i in range(1, redeploys + 1):
                t0 = time.monotonic()
                ctl.cli("deploy", APP, "--path", str(write_static_app(src, body=f"v{i}")))
                durations.append(time.monotonic() - t0)
                print(
                    f"  redeploy {i}/{redeploys}: {durations[-1]:.2f} s, {load.total} requests so far",
                    flush=True,
                )
            time.sleep(1)
        elapsed = time.monotonic() - start
        final = ctl.get_app(APP).text.strip()

    failed = load.non_2xx + len(load.failures)
    print(f"\n{redeploys} redeploys under load ({threads} keep-alive client threads through nginx)")
    print_table(
        ["measure", "value"],
        [
            ["load duration s", f"{elapsed:.1f}"],
            ["total requests", load.total],
            ["requests/s", f"{load.total / elapsed:.0f}"],
            ["2xx", sum(n for s, n in load.statuses.items() if 200 <= s < 300)],
            ["non-2xx", load.non_2xx],
            ["retried on reused conn (fixed)", load.retried_ok],
            ["failed connections/errors", len(load.failures)],
            ["distinct bodies served", len(load.bodies)],
            ["median redeploy (CLI) s", f"{median(durations):.2f}"],
            ["final body", final],
        ],
    )
    if load.non_2xx:
        print("non-2xx statuses:", dict(load.statuses))
    for failure in load.failures[:5]:
        print("failure:", failure)
    verdict = "OK" if failed == 0 and final == f"v{redeploys}" else "MISSED"
    print(
        f"SUMMARY zero_downtime: {failed} failed of {load.total} requests over {redeploys} redeploys "
        f"({load.retried_ok} keep-alive retries), target 0 failed: {verdict}"
    )


if __name__ == "__main__":
    main()
