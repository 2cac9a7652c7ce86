"""Seeded chaos under keep-alive load: the data plane keeps serving whatever the control plane does.

Random deploys (waited for or not), rollbacks, config changes, scaling, restarts, container
crashes and controller SIGKILLs hit two apps, `solo` (one container) and `duo` (two or three),
while one keep-alive client per app counts every failed request. At the end: no job stuck,
no extra container, the last release serving, no failed request for `duo`, and for `solo`
only outages that follow a crash and last no longer than one container start (measured in
the same run, as Docker restarts a crashed container; twice that is allowed, for the noise
of a shared machine).

    DOCKYARD_CHAOS_SEED=1234      replay a run (default: a random seed, printed)
    DOCKYARD_CHAOS_SECONDS=600    run longer (default 150)

A crash is SIGKILL of the container's init from the host, as the kernel's OOM killer or
a segfault would end it: Docker's restart policy brings it back by itself. `docker kill`
is different: Docker 20.10 records it as an operator's stop (for every restart policy)
and never restarts the container. The keeper (a process of its own, which outlives a
killed controller) starts a serving container stopped that way again in place, so a
`docker kill` of `solo`, with the controller up or down, obeys the same outage rule as
a crash; `duo` containers are killed that way too, which its other container covers.
"""

import os
import random
import re
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import docker
import docker.errors
import httpx
import pytest
from docker.models.containers import Container

from controller.adapters.docker.context import pack_directory
from tests.conftest import write_static_app
from tests.e2e.conftest import BASE_DOMAIN, Controller, make_controller
from tests.e2e.load import LoadClient
from tests.e2e.test_queue import FINAL, wait_all_final, wait_until

pytestmark = pytest.mark.integration

SOLO, DUO = "solo", "duo"
WINDOW_GAP = 1.0  # failures closer than this belong to one outage window
CRASH_MIN_UPTIME = 11.0  # Docker backs off restarts of a container that ran less than 10 s
START_SAMPLES = 3
IN_FLIGHT = 0.5  # a request sent this long before a crash can still be in flight and fail with it


@dataclass
class Chaos:
    """The run's controller, random source, action log and what each build serves."""

    ctl: Controller
    rng: random.Random
    workdir: Path
    docker: docker.DockerClient
    started: float = field(default_factory=time.monotonic)
    wall_started: float = field(default_factory=time.time)  # the same moment as `started`
    log: list[str] = field(default_factory=list)
    crashes: dict[str, list[float]] = field(default_factory=lambda: {SOLO: [], DUO: []})
    bodies: dict[str, str] = field(default_factory=dict)  # source digest prefix -> body
    builds: int = 0
    seed: int = 0

    def note(self, text: str) -> None:
        self.log.append(f"{time.monotonic() - self.started:8.2f}s {text}")

    def api(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        response = self.ctl.api(method, path, **kwargs)
        self.note(f"  -> {response.status_code} {response.text[:120]}")
        return response

    def build(self, app: str, *, wait: bool) -> None:
        self.builds += 1
        body = f"{app}-b{self.builds}"
        source = write_static_app(self.workdir / body, body=body)
        self.note(f"deploy {app} {body}{'' if wait else ' (background)'}")
        response = self.api(
            "POST",
            f"/apps/{app}/deploys",
            content=pack_directory(source),
            headers={"Content-Type": "application/gzip"},
        )
        if response.status_code != 202:
            return
        deploy = response.json()
        self.bodies[deploy["description"].removeprefix("build ")] = body
        if wait:
            wait_until(
                lambda: self.ctl.api("GET", f"/deploys/{deploy['id']}").json()["status"] in FINAL,
                240,
                f"deploy {deploy['id']} did not finish",
            )

    def containers(self, app: str, *, running: bool = True) -> list[Container]:
        labels = [f"io.dockyard.instance={self.ctl.instance}", f"io.dockyard.app={app}"]
        return self.docker.containers.list(all=not running, filters={"label": labels})

    def crash(self, app: str, *, docker_kill: bool = False) -> None:
        """SIGKILL one container's init from the host (or `docker kill` it), if the rules allow.

        `solo` crashes only once its container ran long enough for Docker to restart it at
        once (`docker kill` needs no wait: the keeper starts it, not Docker's policy); `duo`
        loses a container only while another one has served for a while.
        """
        now = datetime.now().astimezone()
        running = [c for c in self.containers(app) if c.attrs["State"]["Status"] == "running"]
        uptimes = {c.id: (now - _started_at(c)).total_seconds() for c in running}
        # Docker's restart backoff slows only its own restarts, not the keeper's start.
        min_uptime = CRASH_MIN_UPTIME if app == SOLO and not docker_kill else 2
        settled = [c for c in running if uptimes[c.id] >= min_uptime]
        if (app == DUO and len(settled) < 2) or not settled:
            self.note(f"crash {app}: skipped ({len(running)} running, {len(settled)} settled)")
            return
        victim = self.rng.choice(sorted(settled, key=lambda c: str(c.name)))
        self.note(f"{'docker kill' if docker_kill else 'crash'} {app} {victim.name}")
        self.crashes[app].append(time.monotonic())
        try:
            if docker_kill:
                victim.kill()
            else:
                os.kill(victim.attrs["State"]["Pid"], signal.SIGKILL)
        except (ProcessLookupError, docker.errors.APIError) as exc:  # a deploy retired it meanwhile
            self.note(f"  -> already gone: {exc}")

    def sigkill_controller(self) -> None:
        down = self.rng.uniform(0.0, 3.0)
        self.note(f"SIGKILL controller for {down:.2f}s")
        self.ctl.kill()
        crash_while_down = self.rng.random() < 0.5
        app, docker_kill = self.rng.choice([(SOLO, False), (DUO, False), (SOLO, True)])
        time.sleep(down / 2)
        if crash_while_down:
            self.crash(app, docker_kill=docker_kill)
        time.sleep(down / 2)
        self.ctl.start()
        self.note("controller back")

    def random_action(self) -> None:
        app = self.rng.choice([SOLO, DUO])
        actions: list[tuple[float, Callable[[], object]]] = [
            (3, lambda: self.build(app, wait=True)),
            (3, lambda: self.build(app, wait=False)),
            (2, lambda: self.rollback(app)),
            (2, lambda: self.configure(app)),
            (1, lambda: self.scale_duo()),
            (2, lambda: self.restart(app)),
            (3, lambda: self.crash(app)),
            (1, lambda: self.crash(DUO, docker_kill=True)),
            (2, lambda: self.crash(SOLO, docker_kill=True)),
            (2, self.sigkill_controller),
        ]
        (action,) = self.rng.choices([a for _, a in actions], weights=[w for w, _ in actions])
        action()

    def rollback(self, app: str) -> None:
        self.note(f"rollback {app}")
        self.api("POST", f"/apps/{app}/rollback", json={})

    def configure(self, app: str) -> None:
        value = f"g{self.rng.randrange(10**6)}"
        self.note(f"config {app} GREETING={value}")
        self.api("PATCH", f"/apps/{app}/config", json={"set": {"GREETING": value}})

    def scale_duo(self) -> None:
        web = self.rng.choice([2, 3])
        self.note(f"scale {DUO} web={web}")
        self.api("POST", f"/apps/{DUO}/scale", json={"web": web})

    def restart(self, app: str) -> None:
        self.note(f"restart {app}")
        self.api("POST", f"/apps/{app}/restart")

    def expected_body(self, app: str) -> str:
        releases = self.ctl.api("GET", f"/apps/{app}/releases").json()
        (current,) = [r for r in releases if r["current"]]
        return self.bodies[current["source_digest"][:12]]

    def report(self, windows: dict[str, list["Window"]], start_seconds: float) -> str:
        lines = [f"chaos seed {self.seed} (replay: DOCKYARD_CHAOS_SEED={self.seed})"]
        lines.append(f"one container start: {start_seconds:.2f}s")
        for app, found in windows.items():
            for window in found:
                lines.append(
                    f"{app}: {dict(window.kinds)} failed from {window.first - self.started:.2f}s "
                    f"to {window.last - self.started:.2f}s ({window.last - window.first:.2f}s)"
                )
        return "\n".join([*lines, "action log:", *self.log])

    def explain(self, app: str, window: "Window") -> str:
        """What happened around an unexplained outage: the actions and nginx's errors then."""
        first, last = window.first - self.started, window.last - self.started
        lines = [f"{app}: {dict(window.kinds)} failed from {first:.2f}s to {last:.2f}s", "actions before:"]
        loaded = [i for i, line in enumerate(self.log) if line.endswith(" load started")][-1:]
        for line in self.log[loaded[0] if loaded else 0 :]:
            at = float(line.split("s", 1)[0])
            if first - 15 <= at <= last + 2:
                lines.append(line)
        lines.append(f"jobs of {app} running then (seconds since load started):")
        lines.extend(self.jobs_during(app, first - 5, last + 5))
        lines.append(f"nginx errors for {app} then (seconds since load started):")
        lines.extend(self.nginx_errors(app, first - 1, last + 6))
        return "\n".join(lines)

    def jobs_during(self, app: str, since: float, until: float) -> list[str]:
        """The app's jobs that ran at some moment between `since` and `until`, with their times."""

        def at(stamp: str | None) -> float | None:
            return None if stamp is None else datetime.fromisoformat(stamp).timestamp() - self.wall_started

        lines = []
        for job in reversed(self.ctl.api("GET", f"/apps/{app}/deploys", params={"limit": 500}).json()):
            started, finished = at(job["started_at"]), at(job["finished_at"])
            if started is not None and started <= until and (finished is None or finished >= since):
                end = "running" if finished is None else f"{finished:.2f}s"
                lines.append(f"  {job['kind']} {job['id']} {started:.2f}s to {end}: {job['status']}")
        return lines or ["  none"]

    def nginx_errors(self, app: str, since: float, until: float) -> list[str]:
        """nginx's error-log lines about `app` between two moments (whole seconds: its stamps)."""
        found: Counter[str] = Counter()
        path = self.ctl.data_dir / "nginx" / "logs" / "error.log"
        for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
            if f"server: {app}." not in line:
                continue
            try:
                stamp = datetime.strptime(line[:19], "%Y/%m/%d %H:%M:%S").timestamp()
            except ValueError:
                continue
            at = stamp - self.wall_started
            if since - 1 <= at <= until:
                message = re.sub(r"^\[(\w+)\] \S+ (\*\d+ )?", r"\1 ", line[20:].split(", client:")[0])
                upstream = line.split('upstream: "')[1].split('"')[0] if 'upstream: "' in line else ""
                found[f"{at:6.0f}s {message} {upstream}"] += 1
        return [f"  {count} x {text}" for text, count in found.items()] or ["  none"]


def _started_at(container: Container) -> datetime:
    stamp = container.attrs["State"]["StartedAt"]
    return datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00")


@dataclass
class Window:
    """Failed requests with less than WINDOW_GAP between each and the next."""

    first: float
    last: float
    kinds: Counter[str]


def outage_windows(failures: list[tuple[float, str]]) -> list[Window]:
    windows: list[Window] = []
    for moment, kind in sorted(failures):
        if not windows or moment - windows[-1].last > WINDOW_GAP:
            windows.append(Window(moment, moment, Counter()))
        windows[-1].last = moment
        windows[-1].kinds[kind] += 1
    return windows


def measure_container_start(chaos: Chaos) -> float:
    """Seconds from a crash to the app answering again, as Docker restarts one (max of samples).

    A throwaway container of `solo`'s current image on the same network (labelled so that
    the controller leaves it alone): crashed like the chaos crashes containers, timed until
    it answers HTTP again.
    """
    (serving,) = chaos.containers(SOLO)
    network = f"dockyard-e2e-{chaos.ctl.instance}"
    samples = []
    for index in range(START_SAMPLES):
        assert serving.image is not None
        probe = chaos.docker.containers.run(  # type: ignore[call-overload]  # stubs lack "unless-stopped"
            serving.image.id,
            detach=True,
            init=True,
            name=f"chaos-probe-{chaos.ctl.instance}-{index}",
            environment={"PORT": "8080"},
            network=network,
            restart_policy={"Name": "unless-stopped"},
            # The image's labels would make it the controller's: its reconciler would remove it.
            labels={"io.dockyard.managed": "false", "io.dockyard.instance": "chaos-probe"},
        )
        try:
            probe.reload()
            url = f"http://{probe.attrs['NetworkSettings']['Networks'][network]['IPAddress']}:8080/"
            wait_until_answering(url)
            crashed = time.monotonic()
            os.kill(probe.attrs["State"]["Pid"], signal.SIGKILL)
            wait_until_answering(url)
            samples.append(time.monotonic() - crashed)
        finally:
            probe.remove(force=True)
    chaos.note(f"container start samples: {', '.join(f'{s:.2f}s' for s in samples)}")
    return max(samples)


def wait_until_answering(url: str, timeout: float = 30) -> None:
    """Poll `url` closely (this times container starts) until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.01)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def test_seeded_chaos_keeps_the_data_plane_serving(tmp_path: Path, busybox_image: str) -> None:
    seed = int(os.environ.get("DOCKYARD_CHAOS_SEED") or random.SystemRandom().randrange(10**9))
    seconds = float(os.environ.get("DOCKYARD_CHAOS_SECONDS") or 150)
    print(f"chaos seed {seed}, {seconds:g}s (replay: DOCKYARD_CHAOS_SEED={seed})")
    ctl = make_controller(tmp_path, DOCKYARD_RECONCILE_INTERVAL="2")
    ctl.start()
    client = docker.from_env()
    chaos = Chaos(ctl=ctl, rng=random.Random(seed), workdir=tmp_path / "src", docker=client, seed=seed)
    try:
        for app in (SOLO, DUO):
            ctl.cli("apps", "create", app)
            chaos.build(app, wait=True)
        ctl.cli("ps", "scale", DUO, "web=2")
        start_seconds = measure_container_start(chaos)
        loads = {
            app: LoadClient(ctl.http_port, f"{app}.{BASE_DOMAIN}", max_seconds=seconds + 600)
            for app in (SOLO, DUO)
        }
        with loads[SOLO], loads[DUO]:
            chaos.started, chaos.wall_started = time.monotonic(), time.time()
            chaos.note("load started")
            while time.monotonic() - chaos.started < seconds:
                time.sleep(chaos.rng.uniform(0.2, 2.5))
                chaos.random_action()
            chaos.note("chaos over; waiting for the jobs and the reconciler")
            deploys = wait_all_final(ctl, timeout=300)
            expected = {app: chaos.expected_body(app) for app in (SOLO, DUO)}
            scale = {app: ctl.api("GET", f"/apps/{app}").json()["web_scale"] for app in (SOLO, DUO)}
            for app in (SOLO, DUO):
                wait_until(
                    lambda app=app: (
                        len(chaos.containers(app, running=False)) == scale[app]
                        and ctl.get_app(app).text.strip() == expected[app]
                    ),
                    90,
                    f"{app} did not settle:\n" + chaos.report({}, start_seconds),
                )
            time.sleep(1)  # a last second of load on the settled state
        windows = {app: outage_windows(load.failure_log) for app, load in loads.items()}
        report = chaos.report(windows, start_seconds)
        print(report)
        totals = {app: (load.total, load.failures, load.retries) for app, load in loads.items()}
        print(f"requests (total, failed, retried): {totals}")
        stuck = [d for d in deploys if d["status"] not in FINAL]
        assert not stuck, f"jobs stuck: {stuck}\n{report}"
        assert loads[DUO].failures == 0, (
            f"{DUO} lost requests {loads[DUO].errors[:3]}\n"
            + "\n".join(chaos.explain(DUO, window) for window in windows[DUO])
            + f"\n\nthe whole run:\n{report}"
        )
        limit = 2 * start_seconds
        for window in windows[SOLO]:
            crashes = chaos.crashes[SOLO]
            assert any(
                crash - IN_FLIGHT <= window.first and window.last - crash <= limit for crash in crashes
            ), (
                f"{SOLO} outage not explained by one container start (limit {limit:.2f}s)\n"
                f"{chaos.explain(SOLO, window)}\n\nthe whole run:\n{report}"
            )
    finally:
        ctl.cleanup()
        client.close()


# Docker waits 0.1 s before restarting a container that ran less than 10 s, doubling each
# time: after the 7th crash in a row it waits 6.4 s (less than adoption's RESTART_WAIT).
CRASHES_IN_A_ROW = 7


def crash_container(client: docker.DockerClient, container_id: str, killed: set[int]) -> None:
    """SIGKILL the container's init from the host, once it runs (a crash, as Docker sees it).

    `killed` holds the pids already killed: Docker reports the old pid as running for a
    moment after it died.
    """

    def crash() -> bool:
        state = client.containers.get(container_id).attrs["State"]
        if state["Status"] != "running" or state["Pid"] in killed:
            return False
        killed.add(state["Pid"])
        os.kill(state["Pid"], signal.SIGKILL)
        return True

    wait_until(crash, 60, "the container did not run again")


def reconciled_after(ctl: Controller, moment: datetime) -> bool:
    stamp = ctl.api("GET", "/health").json()["reconciled_at"]
    return stamp is not None and datetime.fromisoformat(stamp.replace("Z", "+00:00")) > moment


@pytest.mark.parametrize("controller_alive", [True, False], ids=["controller-alive", "controller-starting"])
def test_a_crashed_container_is_restarted_by_docker_not_replaced(
    tmp_path: Path, busybox_image: str, controller_alive: bool
) -> None:
    """Docker brings the crashed container back; the controller neither replaces nor unroutes it.

    The container crashes several times in a row, so that Docker's restart backoff keeps
    it `restarting` for seconds: while the reconciler looks at it, or while a controller
    starts and adopts its routes.
    """
    ctl = make_controller(tmp_path, DOCKYARD_RECONCILE_INTERVAL="1")
    ctl.start()
    client = docker.from_env()
    try:
        ctl.cli("apps", "create", SOLO)
        ctl.cli("deploy", SOLO, "--path", str(write_static_app(tmp_path / "v1", body="v1")))
        (container,) = Chaos(ctl=ctl, rng=random.Random(0), workdir=tmp_path, docker=client).containers(SOLO)
        if not controller_alive:
            ctl.kill()
        killed: set[int] = set()
        container_id = str(container.id)
        for _ in range(CRASHES_IN_A_ROW):
            crash_container(client, container_id, killed)
        if not controller_alive:
            wait_until(
                lambda: client.containers.get(container_id).attrs["State"]["Status"] == "restarting",
                30,
                "Docker is not restarting the container",
            )
            ctl.start()
        wait_until(lambda: ctl.get_app(SOLO).text.strip() == "v1", 60, "the app did not come back")
        back = datetime.now().astimezone()
        wait_until(lambda: reconciled_after(ctl, back), 60, "no reconcile pass after the restart")
        kinds = [d["kind"] for d in ctl.api("GET", f"/apps/{SOLO}/deploys").json()]
        labels = [f"io.dockyard.instance={ctl.instance}", f"io.dockyard.app={SOLO}"]
        assert [c.id for c in client.containers.list(all=True, filters={"label": labels})] == [container.id]
        assert "repair" not in kinds, kinds
    finally:
        ctl.cleanup()
        client.close()
