"""The durable deploy queue: dispatch latency, accepted requests per second, recovery time.

- latency: from a deploy request to its job starting on an idle worker (the deploy's
  started_at minus created_at, both stamped by the controller), p50 and p99;
- throughput: deploy requests (config changes, each a queued job) accepted (stored, 202) per
  second from 16 concurrent keep-alive clients; the clients are plain http.client so the
  load generator takes as little as it can of the cores the controller runs on, and the
  jobs the requests queue run meanwhile;
- recovery: from a controller restart (SIGKILL, then start) to its first reconcile pass
  having covered every app, with 50 deployed apps.

    .venv/bin/python -m bench.queue [LATENCY_N] [THROUGHPUT_SECONDS] [APPS]
"""

import http.client
import json
import sys
import threading
import time
from datetime import datetime

import docker

from bench.common import (
    api_client,
    bench_dir,
    ensure_busybox,
    median,
    print_table,
    running_controller,
    wait_until,
    write_static_app,
)
from controller.adapters.docker.context import pack_directory
from tests.e2e.conftest import TOKEN, Controller

FINAL = {"succeeded", "failed", "cancelled", "superseded", "interrupted"}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure_latency(ctl: Controller, count: int) -> list[float]:
    """Config changes of an app with no release: the job itself takes a few milliseconds."""
    latencies = []
    with api_client(ctl) as client:
        client.post("/apps", json={"name": "latency"}).raise_for_status()
        for index in range(count):
            deploy = client.patch("/apps/latency/config", json={"set": {"N": str(index)}}).json()
            while True:
                current = client.get(f"/deploys/{deploy['id']}").json()
                if current["status"] in FINAL:
                    break
                time.sleep(0.002)
            started = datetime.fromisoformat(current["started_at"])
            created = datetime.fromisoformat(current["created_at"])
            latencies.append((started - created).total_seconds() * 1000)
    return latencies


def measure_throughput(ctl: Controller, seconds: float, clients: int = 16) -> tuple[int, float]:
    with api_client(ctl) as client:
        for index in range(clients):
            client.post("/apps", json={"name": f"tput-{index}"}).raise_for_status()
    accepted = [0] * clients
    deadline = time.monotonic() + seconds
    body = json.dumps({"set": {"K": "v"}}).encode()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

    def run(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", ctl.api_port, timeout=60)
        try:
            while time.monotonic() < deadline:
                conn.request("PATCH", f"/api/v1/apps/tput-{index}/config", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status == 202:
                    accepted[index] += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(accepted), time.monotonic() - start


def measure_recovery(ctl: Controller, apps: int) -> tuple[float, float]:
    """Deploy `apps` apps, SIGKILL the controller, start it; seconds to health and to reconciled."""
    archive = pack_directory(write_static_app(ctl.data_dir.parent / "recovery-app", body="ok"))
    with api_client(ctl) as client:
        for index in range(apps):
            client.post("/apps", json={"name": f"rec-{index}"}).raise_for_status()
            client.post(
                f"/apps/rec-{index}/deploys", content=archive, headers={"Content-Type": "application/gzip"}
            ).raise_for_status()

        def all_done() -> bool:
            deploys = client.get("/deploys", params={"limit": 500}).json()
            return all(d["status"] in FINAL for d in deploys if d["app"].startswith("rec-"))

        wait_until(all_done, timeout=apps * 20, interval=0.5)
    ctl.kill()
    started = time.monotonic()
    ctl.start()
    healthy = time.monotonic() - started
    with api_client(ctl) as client:
        wait_until(lambda: client.get("/health").json()["reconciled_at"] is not None, timeout=120)
    reconciled = time.monotonic() - started
    return healthy, reconciled


def main() -> None:
    latency_n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    apps = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    client = docker.from_env()
    ensure_busybox(client)
    client.close()
    with bench_dir("queue") as tmp, running_controller(tmp) as ctl:
        latencies = measure_latency(ctl, latency_n)
        accepted, elapsed = measure_throughput(ctl, seconds)
        healthy, reconciled = measure_recovery(ctl, apps) if apps else (0.0, 0.0)
    p50, p99 = median(latencies), percentile(latencies, 0.99)
    rate = accepted / elapsed
    print_table(
        ["measure", "value", "target"],
        [
            ["queue latency p50 (ms)", f"{p50:.1f}", "-"],
            ["queue latency p99 (ms)", f"{p99:.1f}", "< 50"],
            ["requests accepted per second", f"{rate:.0f}", ">= 500"],
            [f"restart -> API answers, {apps} apps (s)", f"{healthy:.2f}", "-"],
            [f"restart -> all {apps} apps reconciled (s)", f"{reconciled:.2f}", "< 5"],
        ],
    )
    print(f"SUMMARY queue_latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms (target p99 < 50 ms)")
    print(f"SUMMARY queue_throughput: {rate:.0f} requests/s accepted (target >= 500/s)")
    print(f"SUMMARY queue_recovery: {reconciled:.2f} s to reconcile {apps} apps (target < 5 s)")


if __name__ == "__main__":
    main()
