"""Footprint: memory of an idle `dockyard serve` with 0 apps, 50 created apps, then 5 deployed.

Sums RSS (and PSS from /proc/PID/smaps_rollup when the kernel has it) over the controller
process and its descendants (nginx daemonises away from it and is printed separately:
master + workers). Containers are not counted. Each figure is taken after IDLE seconds idle.

    .venv/bin/python -m bench.footprint [IDLE_SECONDS]
"""

import subprocess
import sys
import time

import docker

from bench.common import (
    Controller,
    api_client,
    bench_dir,
    children_of,
    ensure_busybox,
    print_table,
    process_memory_kb,
    running_controller,
    write_static_app,
)

APPS = 50
DEPLOYED = 5
TARGET_MB = 100.0


def _mb(kb: int | None) -> str:
    return "n/a" if kb is None else f"{kb / 1024:.1f}"


def measure(ctl: Controller, stage: str, idle: float) -> list[str]:
    time.sleep(idle)
    assert ctl.process is not None
    controller_pids = children_of(ctl.process.pid)
    nginx_master = ctl.nginx_pid()
    nginx_pids = children_of(nginx_master)
    rss, pss = process_memory_kb(controller_pids)
    nginx_rss, nginx_pss = process_memory_kb(nginx_pids)
    return [
        stage,
        str(len(controller_pids)),
        _mb(rss),
        _mb(pss),
        str(len(nginx_pids)),
        _mb(nginx_rss),
        _mb(nginx_pss),
    ]


IMPORTS_ONLY = """
import os, time
import controller.api.app, uvicorn
time.sleep(0.5)
print(os.getpid(), flush=True)
time.sleep(30)
"""


def imports_only() -> list[str]:
    """Reference: a Python process that only imports the controller's modules (no server)."""
    with subprocess.Popen([sys.executable, "-c", IMPORTS_ONLY], stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        pid = int(proc.stdout.readline())
        rss, pss = process_memory_kb([pid])
        proc.kill()
    return ["reference: imports only", "1", _mb(rss), _mb(pss), "-", "-", "-"]


def main() -> None:
    idle = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    client = docker.from_env()
    ensure_busybox(client)
    client.close()
    rows: list[list[str]] = [imports_only()]
    with bench_dir("footprint") as tmp, running_controller(tmp) as ctl, api_client(ctl) as api:
        rows.append(measure(ctl, "idle, 0 apps", idle))
        for i in range(APPS):
            api.post("/apps", json={"name": f"app{i:02d}"}).raise_for_status()
        rows.append(measure(ctl, f"{APPS} apps created", idle))
        for i in range(DEPLOYED):
            src = write_static_app(tmp / f"src{i}", body=f"app{i:02d}")
            ctl.cli("deploy", f"app{i:02d}", "--path", str(src))
        rows.append(measure(ctl, f"{APPS} apps, {DEPLOYED} deployed", idle))
    print(f"\nMemory of `dockyard serve` (MB = MiB), each after {idle:.0f} s idle")
    print_table(["stage", "procs", "RSS MB", "PSS MB", "nginx procs", "nginx RSS MB", "nginx PSS MB"], rows)
    peak = max(float(row[2]) for row in rows[1:])
    verdict = "OK" if peak < TARGET_MB else "MISSED"
    print(
        f"SUMMARY footprint: controller RSS {rows[1][2]} MB idle, {rows[2][2]} MB with {APPS} apps, "
        f"{rows[3][2]} MB with {DEPLOYED} deployed (imports alone {rows[0][2]} MB); "
        f"target < {TARGET_MB:.0f} MB: {verdict}"
    )


if __name__ == "__main__":
    main()
