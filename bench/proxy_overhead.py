"""Proxy overhead: Dockyard's generated nginx config against a hand-written reference, and reload time.

Part 1: a container deployed by a real controller (so on a Dockyard network) serving a
1 KiB page; wrk (keep-alive, -t2 -c32) measures requests/s and p50 (a) to the container
address, (b) through a reference nginx (own prefix and port: one upstream with
`keepalive 32`, `proxy_http_version 1.1`, `proxy_set_header Connection ""`), (c) through the
controller's generated config with the app's Host header. Configs run interleaved, ROUNDS
times each; the best round (highest rps: the least disturbed on a shared machine) and the
median are reported. Two backends: busybox httpd (forks per connection and answers
`Connection: close`, so no keep-alive to it and it dominates the cost), and the host's nginx
binary copied into a scratch-like image (keeps connections alive: the proxies' own cost shows).

Part 2: `NginxProxy` on a temp prefix with 200 sites (fake backends 127.0.0.1:<port>):
`nginx -t` alone, and `apply()` of 201 sites from the call until the new Host answers not-404
(polled on fresh connections) and until apply() returns (old workers gone).

    .venv/bin/python -m bench.proxy_overhead [ROUNDS] [DURATION]
"""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker

from bench.common import (
    BASE_DOMAIN,
    BUSYBOX_IMAGE,
    Controller,
    WrkResult,
    api_client,
    bench_dir,
    ensure_busybox,
    fetch_fresh,
    free_port,
    median,
    print_table,
    run_wrk,
    running_controller,
    wait_until,
    write_static_app,
)
from controller.adapters.nginx import NginxProxy, render_sites
from controller.adapters.nginx_process import check_config
from controller.domain.models import Site

PORT = 8080
PAGE = ("0123456789abcdef" * 64)[:1023] + "\n"  # 1 KiB
SITES = 200
APPLY_RUNS = 7
POLL_S = 0.002  # poll resolution; polling much faster loads the 2 cores the reload needs
TARGET_RATIO = 0.95
TARGET_RELOAD_MS = 100.0

REFERENCE_CONF = """\
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
worker_processes auto;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/temp/client_body;
    proxy_temp_path {prefix}/temp/proxy;
    fastcgi_temp_path {prefix}/temp/fastcgi;
    uwsgi_temp_path {prefix}/temp/uwsgi;
    scgi_temp_path {prefix}/temp/scgi;
    upstream app {{
        server {backend};
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


@contextlib.contextmanager
def reference_nginx(prefix: Path, backend: str) -> Iterator[int]:
    """A separate nginx with the hand-written config; yields its port, quits it afterwards."""
    port = free_port()
    (prefix / "temp").mkdir(parents=True)
    conf = prefix / "nginx.conf"
    conf.write_text(REFERENCE_CONF.format(prefix=prefix, backend=backend, port=port))
    subprocess.run(["nginx", "-p", str(prefix), "-c", str(conf)], check=True)
    try:
        wait_until(lambda: fetch_fresh("127.0.0.1", port)[0] == 200, timeout=10)
        yield port
    finally:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int((prefix / "nginx.pid").read_text()), signal.SIGQUIT)


BACKEND_NGINX_CONF = """\
daemon off;
user nobody nogroup;
worker_processes 1;
pid /srv/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path /tmp/client_body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;
    server {
        listen 8080;
        root /www;
    }
}
"""


def write_nginx_app(directory: Path, body: str) -> Path:
    """A build context: the host's nginx binary and its libraries on the busybox base image."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    libs = re.findall(r"(/\S+) \(0x", subprocess.run(["ldd", binary], capture_output=True, text=True).stdout)
    root = directory / "root"
    for source in [binary, *libs]:
        target = root / source.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)  # follows symlinks: the real file under the linked name
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc" / "passwd").write_text("root:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n")
    (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (root / "srv").mkdir(exist_ok=True)
    (root / "srv" / "nginx.conf").write_text(BACKEND_NGINX_CONF)
    (root / "www").mkdir(exist_ok=True)
    (root / "www" / "index.html").write_text(body)
    (root / "var" / "log" / "nginx").mkdir(parents=True, exist_ok=True)
    (root / "tmp").mkdir(exist_ok=True)
    (root / "tmp").chmod(0o1777)
    (directory / "Dockerfile").write_text(
        f"FROM {BUSYBOX_IMAGE}\nCOPY root /\nEXPOSE {PORT}\n"
        'CMD ["nginx", "-p", "/srv", "-c", "/srv/nginx.conf"]\n'
    )
    return directory


BACKENDS: dict[str, Callable[..., Path]] = {
    "busybox-httpd": write_static_app,
    "nginx-keepalive": write_nginx_app,
}


def throughput(rounds: int, duration: str) -> dict[tuple[str, str], list[WrkResult]]:
    """wrk figures per (backend, path), the paths interleaved round by round."""
    client = docker.from_env()
    ensure_busybox(client)
    client.close()
    results: dict[tuple[str, str], list[WrkResult]] = {}
    with bench_dir("proxy") as tmp, running_controller(tmp) as ctl, api_client(ctl) as api:
        for backend, write_app in BACKENDS.items():
            api.post("/apps", json={"name": backend}).raise_for_status()
            ctl.cli("deploy", backend, "--path", str(write_app(tmp / backend, body=PAGE)))
            address = api.get(f"/apps/{backend}").json()["containers"][0]["address"]
            results.update(measure_backend(ctl, tmp / f"ref-{backend}", backend, address, rounds, duration))
    return results


def measure_backend(
    ctl: Controller, ref_prefix: Path, backend: str, address: str, rounds: int, duration: str
) -> dict[tuple[str, str], list[WrkResult]]:
    results: dict[tuple[str, str], list[WrkResult]] = {}
    with reference_nginx(ref_prefix, f"{address}:{PORT}") as ref_port:
        targets: dict[str, tuple[str, int, str | None]] = {
            "direct": (address, PORT, None),
            "reference": ("127.0.0.1", ref_port, None),
            "generated": ("127.0.0.1", ctl.http_port, f"{backend}.{BASE_DOMAIN}"),
        }
        for name, (addr, port, host) in targets.items():  # same page everywhere; warm-up
            status, body = fetch_fresh(addr, port, host_header=host)
            if (status, body) != (200, PAGE):
                raise RuntimeError(f"{name} answered {status} {body[:80]!r}")
            run_wrk(f"http://{addr}:{port}/", host=host, duration="1s")
        names = list(targets)
        for round_ in range(rounds):  # rotate the order: TIME_WAIT sockets a run leaves slow the next
            for name in names[round_ % 3 :] + names[: round_ % 3]:
                addr, port, host = targets[name]
                result = run_wrk(f"http://{addr}:{port}/", host=host, duration=duration)
                results.setdefault((backend, name), []).append(result)
                print(f"  {backend} round {round_ + 1}/{rounds} {name}: {result.rps:.0f} rps", flush=True)
    return results


@dataclass
class ReloadFigures:
    render_ms: float
    check_ms: list[float] = field(default_factory=list)
    apply_live_ms: list[float] = field(default_factory=list)
    apply_returned_ms: list[float] = field(default_factory=list)
    raw_live_ms: list[float] = field(default_factory=list)


def _until_answering(port: int, host: str, change: Callable[[], None]) -> tuple[float, float]:
    """Run `change`; return (ms until `host` answers not-404 on a fresh connection, ms change took)."""
    found: list[float] = []
    t0 = time.monotonic()

    def poll() -> None:
        wait_until(lambda: fetch_fresh("127.0.0.1", port, host_header=host)[0] != 404, 10, POLL_S)
        found.append((time.monotonic() - t0) * 1000)

    poller = threading.Thread(target=poll)
    poller.start()
    change()
    took = (time.monotonic() - t0) * 1000
    poller.join(15)
    return found[0], took


def reload_times() -> ReloadFigures:
    """With 200 sites: render, `nginx -t`, and adding one site by apply() vs by hand (interleaved).

    By hand (the baseline): write sites.conf (os.replace, no fsync), `nginx -t`, SIGHUP the
    master, poll. apply() also fsyncs, keeps a backup, and waits for the old workers to exit.
    """
    sites = [
        Site(app=f"app{i:03d}", domains=(f"app{i:03d}.bench.test",), backends=(f"127.0.0.1:{20000 + i}",))
        for i in range(SITES)
    ]
    with bench_dir("reload") as tmp:
        port = free_port()
        proxy = NginxProxy(prefix=tmp / "nginx", listen_addr="127.0.0.1", http_port=port)
        proxy.ensure_running(sites)
        try:
            t0 = time.monotonic()
            render_sites(sites, listen_addr="127.0.0.1", http_port=port, overrides_dir=proxy.overrides_dir)
            figures = ReloadFigures(render_ms=(time.monotonic() - t0) * 1000)
            for _ in range(5):
                t0 = time.monotonic()
                passed, output = check_config("nginx", proxy.prefix)
                figures.check_ms.append((time.monotonic() - t0) * 1000)
                if not passed:
                    raise RuntimeError(output)

            def by_hand() -> None:
                text = render_sites(
                    sites, listen_addr="127.0.0.1", http_port=port, overrides_dir=proxy.overrides_dir
                )
                staged = proxy.sites_path.with_name("sites.conf.raw")
                staged.write_text(text)
                os.replace(staged, proxy.sites_path)
                passed, output = check_config("nginx", proxy.prefix)
                if not passed:
                    raise RuntimeError(output)
                os.kill(proxy.master_pid() or 0, signal.SIGHUP)

            for run in range(APPLY_RUNS):
                sites.append(
                    Site(app=f"new{run}", domains=(f"new{run}.bench.test",), backends=("127.0.0.1:19999",))
                )
                live, took = _until_answering(port, f"new{run}.bench.test", lambda: proxy.apply(sites))
                figures.apply_live_ms.append(live)
                figures.apply_returned_ms.append(took)
                time.sleep(0.3)
                sites.append(
                    Site(app=f"raw{run}", domains=(f"raw{run}.bench.test",), backends=("127.0.0.1:19999",))
                )
                figures.raw_live_ms.append(_until_answering(port, f"raw{run}.bench.test", by_hand)[0])
                time.sleep(0.3)
        finally:
            proxy.stop()
    return figures


def print_throughput(results: dict[tuple[str, str], list[WrkResult]], rounds: int, duration: str) -> None:
    print(f"\nwrk -t2 -c32 -d{duration} keep-alive, 1 KiB page, {rounds} interleaved rounds (2 shared cores)")
    rows = []
    for (backend, path), runs in results.items():
        best = max(runs, key=lambda r: r.rps)
        direct = max(r.rps for r in results[(backend, "direct")])
        errors = sum(r.non_2xx + r.socket_errors for r in runs)
        rows.append(
            [
                backend,
                path,
                f"{best.rps:.0f}",
                f"{best.p50_ms:.2f}",
                f"{median([r.rps for r in runs]):.0f}",
                f"{median([r.p50_ms for r in runs]):.2f}",
                f"{best.rps / direct:.2f}",
                str(errors),
            ]
        )
    print_table(
        ["backend", "path", "best rps", "p50 ms", "median rps", "median p50", "best/direct", "errors"], rows
    )


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    duration = sys.argv[2] if len(sys.argv) > 2 else "10s"
    results = throughput(rounds, duration)
    print_throughput(results, rounds, duration)
    reload = reload_times()
    print(f"\nAdding an app to {SITES} (NginxProxy on a temp prefix), {APPLY_RUNS} runs each, interleaved")
    rows = [
        ["render sites.conf (once)", f"{reload.render_ms:.1f}", "", ""],
        *[
            [name, f"{median(values):.1f}", f"{min(values):.1f}", f"{max(values):.1f}"]
            for name, values in {
                "nginx -t alone": reload.check_ms,
                "by hand: write, nginx -t, HUP -> answers": reload.raw_live_ms,
                "apply(): call -> new Host answers": reload.apply_live_ms,
                "apply(): call -> returned (old workers gone)": reload.apply_returned_ms,
            }.items()
        ],
    ]
    print_table(["measure (ms)", "median", "min", "max"], rows)
    live = median(reload.apply_live_ms)
    for backend in BACKENDS:
        generated = max(r.rps for r in results[(backend, "generated")])
        reference = max(r.rps for r in results[(backend, "reference")])
        ratio = generated / reference
        paired = median(
            [
                g.rps / r.rps
                for g, r in zip(results[(backend, "generated")], results[(backend, "reference")], strict=True)
            ]
        )
        verdict = "OK" if ratio >= TARGET_RATIO else "MISSED"
        note = (
            " (backend-bound: fork + close per request; indicative only)"
            if backend == "busybox-httpd"
            else ""
        )
        print(
            f"SUMMARY proxy_overhead[{backend}]: generated/reference = {ratio:.2f} (best {generated:.0f} vs "
            f"{reference:.0f} rps; median of per-round ratios {paired:.2f}), target >= {TARGET_RATIO}: "
            f"{verdict}{note}"
        )
    verdict = "OK" if live < TARGET_RELOAD_MS else "MISSED"
    print(
        f"SUMMARY proxy_reload: {SITES} apps, apply() to answering {live:.0f} ms (by hand "
        f"{median(reload.raw_live_ms):.0f} ms, nginx -t {median(reload.check_ms):.0f} ms), "
        f"target < {TARGET_RELOAD_MS:.0f} ms: {verdict}"
    )


if __name__ == "__main__":
    main()
