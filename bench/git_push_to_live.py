"""Push-to-live: `git push` (SSH and smart HTTP) until the new commit serves through nginx, against
the raw Docker SDK build + run + first healthy answer of the same tree.

Baseline (raw Docker SDK, same tree without .git): `api.build` streamed to the end +
`containers.run(detach, init, network=<bridge>)` + poll the container's address until the new
body answers. Dockyard: from starting `git push` to the new body answering through nginx
(fresh connections, polled every 5 ms), and to the push command returning ("done": the hook
streamed the whole deploy log). Warm layer cache on both sides: each run changes only the page.
N runs per transport, interleaved with the baseline.

Needs what the git e2e tests need (scripts/setup-git-testbed.sh): openssh-server, the git user.

    .venv/bin/python -m bench.git_push_to_live [N]
"""

import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import docker

from bench.common import (
    BASE_DOMAIN,
    BENCH_LABEL,
    TOKEN,
    LiveWatch,
    baseline_once,
    ensure_busybox,
    median,
    p90,
    print_table,
    write_static_app,
)
from tests.e2e.git_support import GitClient, SshServer, git_controller, traversable_dir

APP = "pushbench"
PORT = 8080
TARGET_OVERHEAD_S = 1.5
RAW_TAG = "dockyard-bench/rawgit"


@dataclass
class PushRun:
    live: float
    done: float
    first_remote_line: float


def push_once(client: GitClient, repo: Path, remote: str, http_port: int, body: str) -> PushRun:
    watch = LiveWatch(http_port, f"{APP}.{BASE_DOMAIN}", body, timeout=120)
    push = client.timed_push(repo, remote, "main")
    done = time.monotonic() - watch.t0
    if push.returncode != 0:
        raise RuntimeError(f"push failed:\n{push.text}")
    live = watch.seconds("the pushed commit")
    wall_t0 = time.time() - (time.monotonic() - watch.t0)
    return PushRun(live=live, done=done, first_remote_line=push.first_remote_line_at() - wall_t0)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    docker_client = docker.from_env()
    ensure_busybox(docker_client)
    run_id = secrets.token_hex(4)
    net_name = f"dockyard-bench-{run_id}"
    network = docker_client.networks.create(net_name, driver="bridge", labels={BENCH_LABEL: run_id})
    baseline: list[float] = []
    runs: dict[str, list[PushRun]] = {"ssh": [], "http": []}
    try:
        with traversable_dir("dockyard-bench-push-") as base:
            ctl = git_controller(base)
            sshd = SshServer(directory=base / "sshd", authorized_keys=base / "ssh" / "authorized_keys")
            ctl.start()
            try:
                sshd.start()
                git = GitClient(home=base / "client", ssh_port=sshd.port)
                ctl.cli("keys", "add", "bench", str(git.public_key))
                ctl.cli("apps", "create", APP)
                repo, raw_dir = base / "repo", base / "raw"
                remotes = {
                    "ssh": git.ssh_remote(APP),
                    "http": f"http://git:{TOKEN}@127.0.0.1:{ctl.api_port}/git/{APP}.git",
                }
                # Warm-up: first deploy (no old container) and both layer caches.
                write_static_app(repo, body=f"warm {run_id}")
                git.commit_all(repo, "warm")
                push_once(git, repo, remotes["ssh"], ctl.http_port, f"warm {run_id}")
                write_static_app(raw_dir, body=f"warm {run_id}")
                baseline_once(
                    docker_client,
                    raw_dir,
                    network=net_name,
                    body=f"warm {run_id}",
                    run_id=run_id,
                    tag=RAW_TAG,
                    port=PORT,
                )
                for i in range(n):
                    for transport, remote in remotes.items():
                        body = f"raw {transport} {i} {run_id}"
                        write_static_app(raw_dir, body=body)
                        baseline.append(
                            baseline_once(
                                docker_client,
                                raw_dir,
                                network=net_name,
                                body=body,
                                run_id=run_id,
                                tag=RAW_TAG,
                                port=PORT,
                            ).total
                        )
                        body = f"{transport} {i} {run_id}"
                        write_static_app(repo, body=body)
                        git.commit_all(repo, body)
                        runs[transport].append(push_once(git, repo, remote, ctl.http_port, body))
                        print(
                            f"  run {i + 1}/{n} {transport}: raw {baseline[-1]:.3f} s, push live "
                            f"{runs[transport][-1].live:.3f} s / done {runs[transport][-1].done:.3f} s",
                            flush=True,
                        )
            finally:
                sshd.stop()
                ctl.cleanup()
                shutil.rmtree(base / "repo", ignore_errors=True)
    finally:
        for container in docker_client.containers.list(
            all=True, filters={"label": f"{BENCH_LABEL}={run_id}"}
        ):
            container.remove(force=True)
        for image in docker_client.images.list(filters={"label": f"{BENCH_LABEL}={run_id}"}):
            docker_client.images.remove(image.id or "", force=True)
        network.remove()
        docker_client.close()

    print(f"\ngit push of a busybox static app, warm layer cache, N={n} per transport, interleaved (seconds)")
    measures = {"raw SDK build + run + first 2xx (baseline)": baseline}
    for transport, items in runs.items():
        measures[f"{transport}: push -> first remote: line"] = [r.first_remote_line for r in items]
        measures[f"{transport}: push -> live via nginx"] = [r.live for r in items]
        measures[f"{transport}: push -> command returns"] = [r.done for r in items]
    print_table(
        ["measure", "median", "p90"],
        [[name, f"{median(v):.3f}", f"{p90(v):.3f}"] for name, v in measures.items()],
    )
    for transport, items in runs.items():
        overhead = median([r.live for r in items]) - median(baseline)
        verdict = "OK" if overhead <= TARGET_OVERHEAD_S else "MISSED"
        print(
            f"SUMMARY git_push_to_live ({transport}): median overhead {overhead:+.3f} s (push live "
            f"{median([r.live for r in items]):.3f} s vs raw {median(baseline):.3f} s), "
            f"target <= {TARGET_OVERHEAD_S:.1f} s: {verdict}"
        )


if __name__ == "__main__":
    if subprocess.run(["id", "dockyard"], capture_output=True).returncode != 0:
        sys.exit("bench: the git user is missing: run scripts/setup-git-testbed.sh first")
    main()
