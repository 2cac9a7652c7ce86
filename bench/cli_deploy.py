"""CLI deploy wall time: `dockyard deploy --path` end to end against raw Docker on the same context.

What the user waits for: from starting the `dockyard deploy APP --path DIR` process (its
Python start-up, packing, upload, the build, health check and proxy switch) until the new
body answers through nginx ("live", polled on fresh connections), and until the process
returns ("returned"). Baseline, measured in the same run and interleaved: raw Docker SDK
build (streamed) + `containers.run` + polling the container's address until the first 2xx
with the new body. Both with a warm layer cache: only the changed page's COPY and the layers
after it rebuild. Also the bare start-up of the CLI (`dockyard --version`) as a floor.

    .venv/bin/python -m bench.cli_deploy [N]          # N=10
"""

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker

from bench.common import (
    BASE_DOMAIN,
    BENCH_LABEL,
    BaselineRun,
    Controller,
    LiveWatch,
    api_client,
    baseline_once,
    bench_dir,
    ensure_busybox,
    median,
    p90,
    print_table,
    running_controller,
    write_static_app,
)

APP = "clibench"
PORT = 8080
TARGET_OVERHEAD_S = 1.0
RAW_TAG = "dockyard-bench/cli-raw"
DOCKYARD = str(Path(sys.executable).with_name("dockyard"))


@dataclass
class CliRun:
    live: float
    returned: float
    lines: list[tuple[float, str]] = field(default_factory=list)


def cli_env(ctl: Controller) -> dict[str, str]:
    # unbuffered: each line's time is when the CLI printed it, not when a buffer filled
    return {**ctl.env, "PYTHONUNBUFFERED": "1"}


def cli_deploy_once(ctl: Controller, directory: Path, body: str) -> CliRun:
    """Run `dockyard deploy` as a user would; time its lines, its exit and the new body."""
    watch = LiveWatch(ctl.http_port, f"{APP}.{BASE_DOMAIN}", body, timeout=60)
    t0 = watch.t0
    process = subprocess.Popen(
        [DOCKYARD, "deploy", APP, "--path", str(directory)],
        env=cli_env(ctl),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines = [(time.monotonic() - t0, line.rstrip("\n")) for line in process.stdout]
    code = process.wait()
    returned = time.monotonic() - t0
    if code != 0:
        raise RuntimeError(f"dockyard deploy exited {code}:\n" + "\n".join(line for _, line in lines))
    return CliRun(live=watch.seconds("the new body"), returned=returned, lines=lines)


def cli_startup(ctl: Controller) -> float:
    t0 = time.monotonic()
    subprocess.run([DOCKYARD, "--version"], env=cli_env(ctl), check=True, capture_output=True)
    return time.monotonic() - t0


def print_breakdown(run: CliRun) -> None:
    print("\nOne `dockyard deploy`, as its output lines reached the terminal (process start = 0):")
    steps = [(t, line) for t, line in run.lines if line.startswith(("----->", "=====>"))]
    ends = [*(t for t, _ in steps[1:]), run.returned]
    rows = [[f"{t:.3f}", f"{end - t:.3f}", line[:70]] for (t, line), end in zip(steps, ends, strict=True)]
    print_table(["at s", "step s", "line"], rows)
    print(
        f"new body first answered through nginx at {run.live:.3f} s; the CLI returned at {run.returned:.3f} s"
    )


def load() -> str:
    averages = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"load average {averages} on {os.cpu_count()} cores"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    print(f"before: {load()}", flush=True)
    client = docker.from_env()
    ensure_busybox(client)
    run_id = secrets.token_hex(4)
    net_name = f"dockyard-bench-{run_id}"
    network = client.networks.create(net_name, driver="bridge", labels={BENCH_LABEL: run_id})
    baseline: list[BaselineRun] = []
    runs: list[CliRun] = []
    startup: list[float] = []
    try:
        with bench_dir("cli") as tmp, running_controller(tmp) as ctl:
            with api_client(ctl) as api:
                api.post("/apps", json={"name": APP}).raise_for_status()
            src = tmp / "src"
            # warm-up: the first deploy has no old container; warm both layer caches
            write_static_app(src, body=f"warm {run_id}")
            baseline_once(
                client, src, network=net_name, body=f"warm {run_id}", run_id=run_id, tag=RAW_TAG, port=PORT
            )
            cli_deploy_once(ctl, src, f"warm {run_id}")
            for i in range(n):
                body = f"raw {i} {run_id}"
                write_static_app(src, body=body)
                baseline.append(
                    baseline_once(
                        client, src, network=net_name, body=body, run_id=run_id, tag=RAW_TAG, port=PORT
                    )
                )
                body = f"cli {i} {run_id}"
                write_static_app(src, body=body)
                runs.append(cli_deploy_once(ctl, src, body))
                startup.append(cli_startup(ctl))
                print(
                    f"  run {i + 1}/{n}: raw {baseline[-1].total:.3f} s, dockyard deploy live "
                    f"{runs[-1].live:.3f} s / returned {runs[-1].returned:.3f} s",
                    flush=True,
                )
    finally:
        for container in client.containers.list(all=True, filters={"label": f"{BENCH_LABEL}={run_id}"}):
            container.remove(force=True)
        for image in client.images.list(filters={"label": f"{BENCH_LABEL}={run_id}"}):
            client.images.remove(image.id or "", force=True)
        network.remove()
        client.close()

    print(f"after: {load()} (other work on the machine skews every figure)")
    raw = [r.total for r in baseline]
    live = [r.live for r in runs]
    returned = [r.returned for r in runs]
    print(
        f"\n`dockyard deploy --path` of a busybox static app, warm layer cache, N={n} each, interleaved (s)"
    )
    measures = {
        "raw SDK: build (streamed)": [r.build for r in baseline],
        "raw SDK: containers.run": [r.run for r in baseline],
        "raw SDK: until first 2xx": [r.ready for r in baseline],
        "raw SDK total (baseline)": raw,
        "CLI start-up (dockyard --version)": startup,
        "dockyard deploy: start -> live via nginx": live,
        "dockyard deploy: start -> process returned": returned,
    }
    rows = [[name, f"{median(values):.3f}", f"{p90(values):.3f}"] for name, values in measures.items()]
    print_table(["measure", "median", "p90"], rows)
    median_index = sorted(range(n), key=lambda i: live[i])[n // 2]
    print_breakdown(runs[median_index])
    overhead = median(live) - median(raw)
    verdict = "OK" if overhead <= TARGET_OVERHEAD_S else "MISSED"
    ratio_live, ratio_returned = median(live) / median(raw), median(returned) / median(raw)
    print(f"\nratio CLI/raw (median): live {ratio_live:.2f}x, returned {ratio_returned:.2f}x")
    print(
        f"SUMMARY cli_deploy: median overhead {overhead:+.3f} s to live, "
        f"{median(returned) - median(raw):+.3f} s to return (dockyard deploy live {median(live):.3f} s, "
        f"returned {median(returned):.3f} s vs raw {median(raw):.3f} s; ratio {ratio_live:.2f}x), "
        f"target <= {TARGET_OVERHEAD_S:.1f} s: {verdict}"
    )


if __name__ == "__main__":
    main()
