"""Webhook intake: signed GitHub push deliveries accepted (verified, recorded durably, answered
202) per second by a real controller, and how many builds a burst for one app turns into.
Each delivery has its own delivery id and names the next commit of a linear history of a
local source repo (file://, the setting that allows local sources is on): a delivery that
arrives after a newer one (the threads race) is refused as stale (409, not recorded), as a
replay would be. THREADS client threads with keep-alive connections send them; "accepted"
counts 202 `queued` answers, each given only after the delivery's row is committed (SQLite
WAL; concurrent deliveries share a commit), and the rows are counted in the database
afterwards. Baseline, same client and threads: the same deliveries with a wrong signature
(401: HTTP stack, parsing and HMAC, nothing recorded).
After each phase the newest delivery's commit must be what serves.

Two phases, each on its own app: a sustained stream of N deliveries (the rate; while it
runs, the app builds each time its previous build ends), then a burst of B deliveries (how
many builds it turns into).

    .venv/bin/python -m bench.webhook_intake [N] [B] [THREADS]     # 2000 100 16
"""

import hashlib
import hmac
import json
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import docker
import httpx

from bench.common import (
    BASE_DOMAIN,
    ensure_busybox,
    fetch_fresh,
    print_table,
    wait_until,
    write_static_app,
)
from tests.e2e.conftest import Controller
from tests.e2e.git_support import GitClient, git_controller, traversable_dir
from tests.e2e.webhook_deliveries import push_payload

APP = "intake"
TARGET_PER_SECOND = 300.0


def run_threads(
    count: int, threads: int, send: Callable[[httpx.Client, int], int]
) -> tuple[float, Counter[int]]:
    """Send `count` requests from `threads` threads (keep-alive); returns (seconds, statuses)."""
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    next_index = iter(range(count))
    start = threading.Barrier(threads + 1)

    def worker() -> None:
        with httpx.Client(timeout=60) as client:
            start.wait()
            local: Counter[int] = Counter()
            while True:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    break
                local[send(client, index)] += 1
        with lock:
            statuses.update(local)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    start.wait()
    t0 = time.monotonic()
    for thread in workers:
        thread.join()
    return time.monotonic() - t0, statuses


def settle(ctl: Controller, app: str, timeout: float = 300) -> Counter[str]:
    """Wait until no delivery is pending and no deploy of `app` is queued or running.

    Returns how many deploys of `app` ended in each status (counted in the database: the
    API lists at most 500).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(f"file:{ctl.data_dir / 'dockyard.db'}?mode=ro", uri=True) as conn:
            pending = conn.execute(
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'"
            ).fetchone()[0]
            query = "SELECT status, count(*) FROM deploys WHERE app = ? GROUP BY status"
            deploys = Counter(dict(conn.execute(query, (app,)).fetchall()))
        if not pending and not deploys["queued"] and not deploys["running"]:
            return deploys
        time.sleep(0.2)
    raise TimeoutError("the deliveries did not settle")


@dataclass
class Phase:
    """One app, its signed deliveries (one commit of the history each) and what became of them."""

    app: str
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    recorded: int = 0
    deploys: Counter[str] = field(default_factory=Counter)
    settled: float = 0.0

    @property
    def built(self) -> int:
        return self.deploys["succeeded"]


class Bench:
    def __init__(self, ctl: Controller, repo: Path, commits: list[str], bodies: list[str]) -> None:
        self.ctl, self.repo, self.commits, self.bodies = ctl, repo, commits, bodies

    def app_with_source(self, app: str) -> tuple[list[bytes], list[str]]:
        self.ctl.cli("apps", "create", app)
        self.ctl.cli("apps", "source", app, "--repo", f"file://{self.repo}")
        secret = json.loads(self.ctl.cli("apps", "info", app, "--json").stdout)["git"]["webhook_secret"]
        payloads = [
            json.dumps(
                push_payload("github", branch="main", commit=c, clone_url=f"file://{self.repo}")
            ).encode()
            for c in self.commits
        ]
        return payloads, [hmac.new(secret.encode(), p, hashlib.sha256).hexdigest() for p in payloads]

    def send(self, app: str, count: int, threads: int, *, signed: bool = True) -> tuple[float, Counter[int]]:
        payloads, signatures = self.app_with_source(app)

        def deliver(http: httpx.Client, index: int) -> int:
            which = index % len(payloads)
            headers = {
                "Content-Type": "application/json",
                "X-GitHub-Event": "push",
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": "sha256=" + (signatures[which] if signed else "0" * 64),
            }
            return http.post(
                f"{self.ctl.url}/hooks/github/{app}", content=payloads[which], headers=headers
            ).status_code

        return run_threads(count, threads, deliver)

    def phase(self, app: str, count: int, threads: int) -> Phase:
        result = Phase(app)
        started = time.monotonic()
        result.seconds, result.statuses = self.send(app, count, threads)
        print(f"  {app}: {count} deliveries in {result.seconds:.2f} s: {dict(result.statuses)}", flush=True)
        with sqlite3.connect(f"file:{self.ctl.data_dir / 'dockyard.db'}?mode=ro", uri=True) as conn:
            query = "SELECT commit_sha FROM webhook_deliveries WHERE app = ? ORDER BY seq DESC"
            rows = conn.execute(query, (app,)).fetchall()
        result.recorded = len(rows)
        result.deploys = settle(self.ctl, app)
        result.settled = time.monotonic() - started
        # The newest delivery (the last to arrive, not the last sent: the threads race) serves.
        body = self.bodies[min(self.commits.index(rows[0][0]), 1)]
        host = f"{app}.{BASE_DOMAIN}"
        wait_until(lambda: fetch_fresh("127.0.0.1", self.ctl.http_port, host_header=host) == (200, body), 30)
        return result


def linear_commits(work: Path, git: GitClient, count: int) -> list[str]:
    """`count` more commits on main with HEAD's tree, made by one `git fast-import`."""
    head = git.run("rev-parse", "HEAD", cwd=work).stdout.strip()
    stream = []
    for index in range(count):
        message = f"next {index}\n"
        parent = f"from {head}\n" if index == 0 else ""
        stream.append(
            f"commit refs/heads/main\nmark :{index + 1}\n"
            f"committer Bench <b@example.com> {1_700_000_000 + index} +0000\n"
            f"data {len(message)}\n{message}{parent}\n"
        )
    marks = work / ".git" / "bench-marks"
    subprocess.run(
        ["git", "fast-import", "--quiet", "--force", f"--export-marks={marks}"],
        cwd=work,
        env=git.env,
        input="".join(stream).encode(),
        check=True,
    )
    shas = dict(line.split() for line in marks.read_text().splitlines())
    return [shas[f":{index + 1}"] for index in range(count)]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    burst = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 16
    client = docker.from_env()
    ensure_busybox(client)
    client.close()
    with traversable_dir("dockyard-bench-hooks-") as base:
        git = GitClient(home=base / "client")
        bodies = ["intake-first", "intake-second"]
        work = write_static_app(base / "upstream", body=bodies[0])
        commits = [git.commit_all(work, "first")]
        (work / "www" / "index.html").write_text(bodies[1])
        commits.append(git.commit_all(work, "second"))
        commits += linear_commits(work, git, max(n, burst))
        ctl = git_controller(
            base, DOCKYARD_GIT_ALLOW_LOCAL_SOURCES="true", DOCKYARD_GIT_ALLOW_PRIVATE_SOURCES="true"
        )
        ctl.start()
        try:
            bench = Bench(ctl, work, commits, bodies)
            bench.send("warmup", 200, threads, signed=False)
            forged_s, forged = bench.send("forged", n, threads, signed=False)
            sustained = bench.phase("intake", n, threads)
            burst_phase = bench.phase("burst", burst, threads)
        finally:
            ctl.cleanup()

    print(f"\nSigned GitHub push deliveries, {threads} client threads with keep-alive (SQLite, WAL)")
    rows = [["wrong signature, 401 (baseline)", n, f"{forged_s:.2f}", f"{n / forged_s:.0f}", dict(forged)]]
    for phase in (sustained, burst_phase):
        count = sum(phase.statuses.values())
        rows.append(
            [
                f"signed, to app {phase.app}",
                count,
                f"{phase.seconds:.2f}",
                f"{count / phase.seconds:.0f}",
                dict(phase.statuses),
            ]
        )
    print_table(["deliveries", "requests", "seconds", "per second", "statuses"], rows)
    for phase in (sustained, burst_phase):
        print(
            f"  {phase.app}: {phase.recorded} rows recorded, {phase.deploys.total()} deploys, "
            f"{phase.built} built ({dict(phase.deploys)}); "
            f"serving the newest commit {phase.settled:.1f} s after the first delivery"
        )
    rate = (sustained.statuses[202] + sustained.statuses[409]) / sustained.seconds
    durable = (
        sustained.recorded == sustained.statuses[202] and burst_phase.recorded == burst_phase.statuses[202]
    )
    verdict = "OK" if rate >= TARGET_PER_SECOND and durable and 1 <= burst_phase.built <= 2 else "MISSED"
    print(
        f"SUMMARY webhook_intake: {rate:.0f} signed deliveries/s answered (202 recorded, or 409 stale) "
        f"({rate / (n / forged_s):.2f}x the 401 baseline); "
        f"a burst of {burst} built {burst_phase.built} time(s); "
        f"target >= {TARGET_PER_SECOND:.0f}/s and 1-2 builds per burst: {verdict}"
    )


if __name__ == "__main__":
    main()
