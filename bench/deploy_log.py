"""A 100,000-line deploy log in the web GUI, on a local controller: what the page and its
on-demand parts cost the server, against reading the whole log.

A real build prints 100,000 lines (`seq`); then, over one keep-alive connection of a logged-in
session, N sequential GETs each of:
- the deploy page (`/deploys/{id}`: the last 2,000 lines and links to the rest);
- a range of 500 lines at a random place (`/deploys/{id}/lines`, JSON);
- a search over the whole stored log (`/deploys/{id}/search?q=54321`);
- the baseline, measured in the same run: the whole log (`GET /api/v1/deploys/{id}/log`),
  which is what the deploy page read and sent before it held a window.
p50 and p99 of each, the bytes each sends, and the ratios to the baseline.

    .venv/bin/python -m bench.deploy_log [N]      # 50
"""

import random
import sys
import time

import docker
import httpx

from bench.common import api_client, bench_dir, ensure_busybox, print_table, running_controller
from tests.conftest import write_static_app

LINES = 100_000
RANGE = 500
USER, PASSWORD = "bench-admin", "bench-admin-password-1"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(client: httpx.Client, paths: list[str]) -> tuple[list[float], int]:
    """Milliseconds of each GET, and the bytes of the last answer (as sent)."""
    times, sent = [], 0
    for path in paths:
        start = time.perf_counter()
        response = client.get(path)
        response.raise_for_status()
        times.append((time.perf_counter() - start) * 1000)
        sent = response.num_bytes_downloaded
    return times, sent


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    ensure_busybox(docker.from_env())
    with bench_dir("deploy-log") as tmp, running_controller(tmp) as ctl:
        api = api_client(ctl)
        api.post("/apps", json={"name": "biglog"}).raise_for_status()
        api.post("/users", json={"name": USER, "role": "admin", "password": PASSWORD}).raise_for_status()
        source = write_static_app(tmp / "app", body="big log")
        head, rest = (source / "Dockerfile").read_text().split("\n", 1)
        (source / "Dockerfile").write_text(f"{head}\nRUN seq 1 {LINES}\n{rest}")
        ctl.cli("deploy", "biglog", "--path", str(source))
        deploy_id = api.get("/apps/biglog/deploys", params={"limit": 1}).json()[0]["id"]

        client = httpx.Client(base_url=ctl.url, timeout=60)
        client.post("/api/v1/session", json={"user": USER, "password": PASSWORD}).raise_for_status()
        total = client.get(f"/deploys/{deploy_id}/lines", params={"start": 0, "stop": 0}).json()["total"]
        rng = random.Random(1)
        starts = [rng.randrange(0, total - RANGE) for _ in range(n)]
        cases = {
            "deploy page (last 2,000 lines)": [f"/deploys/{deploy_id}"] * n,
            f"range of {RANGE} lines": [
                f"/deploys/{deploy_id}/lines?start={s}&stop={s + RANGE}" for s in starts
            ],
            "search the whole log": [f"/deploys/{deploy_id}/search?q=54321"] * n,
        }
        for paths in cases.values():
            timed(client, paths[:5])  # warm-up: templates compiled, the log's index built
        timed(api, [f"/deploys/{deploy_id}/log"] * 5)
        whole_ms, whole_bytes = timed(api, [f"/deploys/{deploy_id}/log"] * n)
        results = {name: timed(client, paths) for name, paths in cases.items()}

    whole_p50 = percentile(whole_ms, 0.5)
    rows: list[list[object]] = [
        [
            "whole log (API, baseline)",
            f"{whole_p50:.1f}",
            f"{percentile(whole_ms, 0.99):.1f}",
            whole_bytes,
            "1.00",
        ]
    ]
    for name, (times, sent) in results.items():
        p50 = percentile(times, 0.5)
        rows.append([name, f"{p50:.1f}", f"{percentile(times, 0.99):.1f}", sent, f"{p50 / whole_p50:.2f}"])
    print(f"deploy log of {total} lines, {n} GETs each")
    print_table(["GET", "p50 ms", "p99 ms", "bytes sent", "p50 / whole log"], rows)
    page_ms, page_bytes = results["deploy page (last 2,000 lines)"]
    range_ms, _ = results[f"range of {RANGE} lines"]
    print(
        f"SUMMARY deploy_log: page p50 {percentile(page_ms, 0.5):.1f} ms and {page_bytes} bytes, "
        f"{RANGE}-line range p50 {percentile(range_ms, 0.5):.1f} ms, against the whole log's "
        f"{whole_p50:.1f} ms and {whole_bytes} bytes (page/whole {percentile(page_ms, 0.5) / whole_p50:.2f})"
    )


if __name__ == "__main__":
    main()
