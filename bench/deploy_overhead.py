"""Deploy overhead: a Dockyard redeploy against raw Docker SDK calls on the same build context.

Baseline (raw Docker SDK): `api.build` streamed to the end + `containers.run(detach, init,
network=<bridge>)` + poll the container's address until the first 2xx with the new body.
Dockyard: from packing the directory and `POST /apps/<app>/deploys` to the new body answering
through nginx (polled on fresh connections); "done" is when the deploy log ends (the CLI returns).
Both sides use a warm layer cache: only the COPY of the changed page (and the layers after it)
is rebuilt. N runs each, interleaved.

    .venv/bin/python -m bench.deploy_overhead [N]
"""

import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker
import httpx

from bench.common import (
    BASE_DOMAIN,
    BENCH_LABEL,
    BaselineRun,
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
from controller.adapters.docker.context import pack_directory

APP = "bench"
PORT = 8080
TARGET_OVERHEAD_S = 1.0
RAW_TAG = "dockyard-bench/raw"


@dataclass
class DockyardRun:
    live: float
    done: float
    lines: list[tuple[float, str]] = field(default_factory=list)


def dockyard_once(api: httpx.Client, http_port: int, directory: Path, body: str) -> DockyardRun:
    watch = LiveWatch(http_port, f"{APP}.{BASE_DOMAIN}", body, timeout=60)
    t0 = watch.t0
    archive = pack_directory(directory)
    response = api.post(f"/apps/{APP}/deploys", content=archive, headers={"Content-Type": "application/gzip"})
    response.raise_for_status()
    deploy_id = response.json()["id"]
    lines = [(time.monotonic() - t0, "(POST answered 202)")]
    with api.stream("GET", f"/deploys/{deploy_id}/log", params={"follow": "true"}) as stream:
        for line in stream.iter_lines():
            lines.append((time.monotonic() - t0, line))
    done = time.monotonic() - t0
    status = api.get(f"/deploys/{deploy_id}").json()["status"]
    if status != "succeeded":
        raise RuntimeError(f"deploy {deploy_id} {status}: " + "\n".join(line for _, line in lines))
    return DockyardRun(live=watch.seconds("the new body"), done=done, lines=lines)


def print_breakdown(run: DockyardRun) -> None:
    print("\nOne Dockyard deploy, step by step (client-side times; the log endpoint polls every 50 ms):")
    steps = [(t, line) for t, line in run.lines if line.startswith(("----->", "=====>", "(POST"))]
    steps.append((run.done, "(log ended: deploy done)"))
    rows = []
    for (t, line), (t_next, _) in zip(steps, [*steps[1:], (run.done, "")], strict=True):
        rows.append([f"{t:.3f}", f"{t_next - t:.3f}", line[:70]])
    print_table(["at s", "step s", "log line"], rows)
    print(f"new body first answered through nginx at {run.live:.3f} s")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    client = docker.from_env()
    ensure_busybox(client)
    run_id = secrets.token_hex(4)
    net_name = f"dockyard-bench-{run_id}"
    network = client.networks.create(net_name, driver="bridge", labels={BENCH_LABEL: run_id})
    baseline: list[BaselineRun] = []
    dockyard: list[DockyardRun] = []
    try:
        with bench_dir("deploy") as tmp, running_controller(tmp) as ctl, api_client(ctl) as api:
            api.post("/apps", json={"name": APP}).raise_for_status()
            src = tmp / "src"
            # warm-up: the first deploy of an app has no old container; warm both caches
            write_static_app(src, body=f"warm {run_id}")
            baseline_once(
                client, src, network=net_name, body=f"warm {run_id}", run_id=run_id, tag=RAW_TAG, port=PORT
            )
            dockyard_once(api, ctl.http_port, src, f"warm {run_id}")
            for i in range(n):
                body = f"raw {i} {run_id}"
                write_static_app(src, body=body)
                baseline.append(
                    baseline_once(
                        client, src, network=net_name, body=body, run_id=run_id, tag=RAW_TAG, port=PORT
                    )
                )
                body = f"dockyard {i} {run_id}"
                write_static_app(src, body=body)
                dockyard.append(dockyard_once(api, ctl.http_port, src, body))
                print(
                    f"  run {i + 1}/{n}: raw {baseline[-1].total:.3f} s, dockyard live "
                    f"{dockyard[-1].live:.3f} s / done {dockyard[-1].done:.3f} s",
                    flush=True,
                )
    finally:
        for container in client.containers.list(all=True, filters={"label": f"{BENCH_LABEL}={run_id}"}):
            container.remove(force=True)
        for image in client.images.list(filters={"label": f"{BENCH_LABEL}={run_id}"}):
            client.images.remove(image.id or "", force=True)
        network.remove()
        client.close()

    raw = [r.total for r in baseline]
    live = [r.live for r in dockyard]
    done = [r.done for r in dockyard]
    print(f"\nDeploy of a busybox static app, warm layer cache, N={n} each, interleaved (seconds)")
    measures = {
        "raw SDK: build (streamed)": [r.build for r in baseline],
        "raw SDK: containers.run": [r.run for r in baseline],
        "raw SDK: until first 2xx": [r.ready for r in baseline],
        "raw SDK total (baseline)": raw,
        "dockyard: POST -> live via nginx": live,
        "dockyard: POST -> deploy done": done,
    }
    rows = [[name, f"{median(values):.3f}", f"{p90(values):.3f}"] for name, values in measures.items()]
    print_table(["measure", "median", "p90"], rows)
    median_index = sorted(range(n), key=lambda i: live[i])[n // 2]
    print_breakdown(dockyard[median_index])
    overhead = median(live) - median(raw)
    print(f"\nratio dockyard/raw (median, live): {median(live) / median(raw):.2f}x")
    verdict = "OK" if overhead <= TARGET_OVERHEAD_S else "MISSED"
    print(
        f"SUMMARY deploy_overhead: median overhead {overhead:+.3f} s (dockyard live {median(live):.3f} s "
        f"vs raw {median(raw):.3f} s), target <= {TARGET_OVERHEAD_S:.1f} s: {verdict}"
    )


if __name__ == "__main__":
    main()
