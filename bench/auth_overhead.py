"""What user tokens cost against the bootstrap admin token (issue 9 benchmarks).

- per request: authenticated `GET /api/v1/apps` (10 apps, the developer scoped to 5) from
  one keep-alive client, rounds alternating admin / user token; per-request time ratio;
- deploy intake: config changes (queued jobs) accepted per second from 16 keep-alive clients
  with the admin token and with a developer's token, as `bench.queue` measures it, in ABBA
  order.

    .venv/bin/python -m bench.auth_overhead [REQUESTS] [ROUNDS] [INTAKE_SECONDS]
"""

import http.client
import json
import sys
import threading
import time

from bench.common import api_client, bench_dir, median, print_table, running_controller
from tests.e2e.conftest import TOKEN, Controller

APPS = 10
CLIENTS = 16


def timed_gets(ctl: Controller, token: str, count: int) -> float:
    """Seconds per request of `count` GET /api/v1/apps on one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", ctl.api_port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        start = time.perf_counter()
        for _ in range(count):
            conn.request("GET", "/api/v1/apps", headers=headers)
            response = conn.getresponse()
            response.read()
            assert response.status == 200, response.status
        return (time.perf_counter() - start) / count
    finally:
        conn.close()


def intake_rate(ctl: Controller, token: str, prefix: str, seconds: float) -> float:
    accepted = [0] * CLIENTS
    body = json.dumps({"set": {"K": "v"}}).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    deadline = time.monotonic() + seconds

    def run(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", ctl.api_port, timeout=60)
        try:
            while time.monotonic() < deadline:
                conn.request("PATCH", f"/api/v1/apps/{prefix}-{index}/config", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status == 202:
                    accepted[index] += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(CLIENTS)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(accepted) / (time.monotonic() - start)


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
    with bench_dir("auth") as tmp, running_controller(tmp) as ctl, api_client(ctl) as client:
        names = [f"app-{i}" for i in range(APPS)]
        names += [f"{p}-{i}" for p in ("adm", "dev") for i in range(CLIENTS)]
        for name in names:
            client.post("/apps", json={"name": name}).raise_for_status()
        scope = [f"app-{i}" for i in range(APPS // 2)] + [f"dev-{i}" for i in range(CLIENTS)]
        user = {"name": "dave", "role": "developer", "apps": scope}
        client.post("/users", json=user).raise_for_status()
        user_token = client.post("/tokens", json={"name": "dave-bench", "user": "dave"}).json()["token"]
        timed_gets(ctl, TOKEN, 200)  # warm both paths
        timed_gets(ctl, user_token, 200)
        admin_times, user_times = [], []
        for _ in range(rounds):
            admin_times.append(timed_gets(ctl, TOKEN, requests))
            user_times.append(timed_gets(ctl, user_token, requests))
        # ABBA order: the jobs one run queued still run during the next.
        admin_rates: list[float] = []
        user_rates: list[float] = []
        for first_admin in (True, False):
            pair = [(TOKEN, "adm", admin_rates), (user_token, "dev", user_rates)]
            for token, prefix, rates in pair if first_admin else pair[::-1]:
                rates.append(intake_rate(ctl, token, prefix, seconds))
        admin_rate, user_rate = sum(admin_rates) / 2, sum(user_rates) / 2
    ratio = median(user_times) / median(admin_times)
    print_table(
        ["measure", "admin token", "user token", "target"],
        [
            [
                "GET /api/v1/apps (ms/request, median)",
                f"{median(admin_times) * 1000:.2f}",
                f"{median(user_times) * 1000:.2f}",
                "ratio <= 1.10",
            ],
            ["config changes accepted per second", f"{admin_rate:.0f}", f"{user_rate:.0f}", ">= 500 (user)"],
        ],
    )
    print(f"SUMMARY auth_overhead: user/admin per-request ratio {ratio:.3f} (target <= 1.10)")
    print(
        f"SUMMARY auth_intake: {user_rate:.0f} requests/s with a user token, {admin_rate:.0f} with admin "
        f"(user/admin {user_rate / admin_rate:.2f}; target >= 500/s with a user token)"
    )


if __name__ == "__main__":
    main()
