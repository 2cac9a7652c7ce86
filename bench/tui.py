"""The TUI with 200 apps on a local controller: start to first full frame, idle CPU and memory,
and event to screen.

- Start: `dockyard tui` in a detached tmux at 80x24 (a private tmux server), from launch
  until the screen shows "200 apps" and every row on screen has its state (Python start-up,
  Textual, the list of apps, the details of the apps on screen).
- Loaded: until the status line no longer says "loading" (every app's details and stats).
- Idle: from 2 s after that, CPU of the TUI process(es) over IDLE seconds with no events,
  then over IDLE seconds while a config change a second keeps events flowing (3 deploy
  events and a refetch of the app each); RSS after it.
- Event to screen (Textual Pilot, in process): a config change of an app with no deploy yet;
  from the start of the PATCH (the state change happens before it returns) until that app's
  row shows a deploy. N changes, p50 and p99; and the PATCH's own time (the controller's part).

    .venv/bin/python -m bench.tui [N] [IDLE_SECONDS]     # 50, 10
"""

import asyncio
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import docker
import httpx
from textual.widgets import DataTable

from bench.common import (
    Controller,
    api_client,
    bench_dir,
    children_of,
    ensure_busybox,
    median,
    running_controller,
)
from tests.e2e.conftest import DOCKYARD, TOKEN
from tui.app import DockyardApp
from tui.client import Client, Target
from tui.format import MISSING

APPS = 200
START_TARGET = 1.0
CPU_TARGET = 2.0
MEMORY_TARGET_MB = 80.0
EVENT_TARGET_MS = 300.0
SOCKET = f"dockyard-bench-tui-{os.getpid()}"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", SOCKET, *args], check=True, capture_output=True, text=True).stdout


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pids: list[int]) -> float:
    kb = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                kb += int(line.split()[1])
    return kb / 1024


def full_frame(screen: str) -> bool:
    """Every app counted and every row on screen with its state (from the app's details)."""
    rows = [line.split() for line in screen.splitlines() if line.startswith(" app")]
    return f"{APPS} apps" in screen and len(rows) >= 10 and all(row[1] != MISSING for row in rows)


def start_and_idle(ctl: Controller, idle: float) -> tuple[float, float, float, float, float]:
    """(seconds to the first full frame, to every app's details and stats loaded, CPU % of one
    core with no events after that, then with events, RSS MB)."""
    env = f"DOCKYARD_URL={shlex.quote(ctl.url)} DOCKYARD_TOKEN={shlex.quote(TOKEN)} TERM=xterm-256color"
    started = time.monotonic()
    tmux(
        "new-session",
        "-d",
        "-s",
        "tui",
        "-x",
        "80",
        "-y",
        "24",
        f"exec env {env} {shlex.quote(DOCKYARD)} tui",
    )
    try:
        while not full_frame(tmux("capture-pane", "-p", "-t", "tui")):
            if time.monotonic() - started > 60:
                raise RuntimeError("the TUI never showed every app")
            time.sleep(0.01)
        first_frame = time.monotonic() - started
        while "loading" in tmux("capture-pane", "-p", "-t", "tui"):  # the rest of the apps
            if time.monotonic() - started > 120:
                raise RuntimeError("the TUI never loaded every app")
            time.sleep(0.01)
        loaded = time.monotonic() - started
        pids = children_of(int(tmux("display", "-p", "-t", "tui", "#{pane_pid}").strip()))
        time.sleep(2)
        before, clock = cpu_seconds(pids), time.monotonic()
        time.sleep(idle)
        quiet = (cpu_seconds(pids) - before) / (time.monotonic() - clock) * 100
        with api_client(ctl) as api:
            before, clock = cpu_seconds(pids), time.monotonic()
            end = clock + idle
            n = 0
            while time.monotonic() < end:
                api.patch(
                    f"/apps/app{n % APPS:03d}/config", json={"set": {"TICK": str(n)}}
                ).raise_for_status()
                n += 1
                time.sleep(1)
            cpu = (cpu_seconds(pids) - before) / (time.monotonic() - clock) * 100
        return first_frame, loaded, quiet, cpu, rss_mb(pids)
    finally:
        subprocess.run(["tmux", "-L", SOCKET, "kill-server"], check=False)


async def event_to_screen(ctl: Controller, n: int) -> tuple[list[float], list[float]]:
    """Milliseconds from a config change's request to its app's row showing the deploy, and
    of those the PATCH's own (the controller's answer; the event is published before it)."""
    for i in range(n):
        ctl.api("POST", "/apps", json={"name": f"fresh{i:03d}"}).raise_for_status()
    app = DockyardApp(Client(Target(ctl.url, TOKEN, "")))
    latencies, requests = [], []
    async with (
        app.run_test(size=(80, 24)) as pilot,
        httpx.AsyncClient(base_url=ctl.url + "/api/v1", headers={"Authorization": f"Bearer {TOKEN}"}) as api,
    ):
        while app.connection != "live" or len(app.apps) < APPS + n:
            await pilot.pause(0.05)
        table = app.screen.query_one("#apps", DataTable)
        for i in range(n):
            name = f"fresh{i:03d}"
            started = time.perf_counter()
            response = await api.patch(f"/apps/{name}/config", json={"set": {"K": "v"}})
            response.raise_for_status()
            requests.append((time.perf_counter() - started) * 1000)
            while str(table.get_row(name)[4]) == MISSING:
                await asyncio.sleep(0.002)
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies, requests


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    idle = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    client = docker.from_env()
    ensure_busybox(client)
    client.close()
    with bench_dir("tui") as tmp, running_controller(tmp) as ctl:
        with api_client(ctl) as api:
            for i in range(APPS):
                api.post("/apps", json={"name": f"app{i:03d}"}).raise_for_status()
        first_frame, loaded, quiet, cpu, memory = start_and_idle(ctl, idle)
        latencies, requests = (sorted(figures) for figures in asyncio.run(event_to_screen(ctl, n)))
    p99 = percentile(latencies, 0.99)
    print(f"start to first full frame ({APPS} apps, tmux 80x24): {first_frame:.2f} s")
    print(f"start to every app's details and stats loaded: {loaded:.2f} s (idle is measured after)")
    print(f"idle CPU, no events: {quiet:.1f} % of one core")
    print(f"idle CPU with a config change a second: {cpu:.1f} % of one core; RSS {memory:.0f} MB")
    print(f"event to screen over {n} changes: p50 {median(latencies):.0f} ms, p99 {p99:.0f} ms")
    print(
        f"  of which the PATCH until its answer: p50 {median(requests):.0f} ms, "
        f"p99 {percentile(requests, 0.99):.0f} ms"
    )
    verdicts = [
        first_frame < START_TARGET,
        cpu < CPU_TARGET,
        memory < MEMORY_TARGET_MB,
        p99 < EVENT_TARGET_MS,
    ]
    print(
        f"SUMMARY tui: first frame {first_frame:.2f} s (target < {START_TARGET:.0f} s), idle CPU {cpu:.1f} % "
        f"(< {CPU_TARGET:.0f} %), RSS {memory:.0f} MB (< {MEMORY_TARGET_MB:.0f}), event to screen p99 "
        f"{p99:.0f} ms (< {EVENT_TARGET_MS:.0f} ms): {'OK' if all(verdicts) else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
