"""Live data of a real app: `GET /apps/{name}/stats` from Docker and nginx's access log, and the
container and app state events of a `docker kill`."""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.conftest import write_static_app
from tests.e2e.conftest import Controller
from tests.e2e.sse import Event, current_event_id, read_events

pytestmark = pytest.mark.integration

WAIT = 60.0  # seconds: a bound, never reached when things work


def write_app_with_failing_path(directory: Path) -> Path:
    """The static app, plus /cgi-bin/fail answering 500 (a busybox httpd CGI script)."""
    write_static_app(directory, body="hello")
    script = directory / "www" / "cgi-bin" / "fail"
    script.parent.mkdir()
    script.write_text(
        "#!/bin/sh\n"
        'echo "Status: 500 Internal Server Error"\n'
        'echo "Content-Type: text/plain"\n'
        "echo\n"
        "echo boom\n"
    )
    script.chmod(0o755)
    return directory


def stats_until(ctl: Controller, app: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The app's stats once `done` holds for them (nginx flushes its access log every second)."""
    deadline = time.monotonic() + WAIT
    while True:
        response = ctl.api("GET", f"/apps/{app}/stats")
        assert response.status_code == 200, response.text
        stats: dict[str, Any] = response.json()
        if done(stats) or time.monotonic() > deadline:
            return stats
        time.sleep(0.2)


def test_stats_count_requests_and_a_killed_container_is_announced(
    controller: Controller, tmp_path: Path
) -> None:
    ctl = controller
    ctl.cli("apps", "create", "live")
    ctl.cli("deploy", "live", "--path", str(write_app_with_failing_path(tmp_path / "app")))
    # The deploy's history: its new container passed its health check.
    epoch = current_event_id(ctl).rpartition("-")[0]
    history = read_events(ctl, f"{epoch}-0", lambda seen: any(kind == "health" for _, kind, _ in seen))
    (health,) = [data for _, kind, data in history if kind == "health"]
    assert health["app"] == "live" and health["result"] == "passed" and health["release"] == 1
    for _ in range(30):
        assert ctl.get_app("live").status_code == 200
    for _ in range(6):
        assert ctl.get_app("live", "/cgi-bin/fail").status_code == 500

    stats = stats_until(ctl, "live", lambda s: (s["requests_per_second"] or 0) * s["window_seconds"] >= 36)
    assert stats["window_seconds"] == 60
    assert stats["requests_per_second"] * 60 == pytest.approx(36, abs=0.5)  # the health checks bypass nginx
    assert stats["errors_per_second"] * 60 == pytest.approx(6, abs=0.5)
    (container,) = stats["containers"]
    assert container["state"] == "running" and container["restarts"] == 0
    assert (
        container["memory_used_bytes"] > 0
        and container["memory_limit_bytes"] >= container["memory_used_bytes"]
    )
    # CPU is measured between two requests of the stats.
    again = ctl.api("GET", "/apps/live/stats").json()
    assert again["containers"][0]["cpu_percent"] is not None and again["containers"][0]["cpu_percent"] >= 0

    shown = ctl.cli("ps", "stats", "live").stdout
    assert "live: 0.60 requests/s, 0.10 5xx/s over the last 60 s" in shown, shown
    assert container["name"] in shown and "MiB" in shown and "%" in shown, shown

    after = current_event_id(ctl)
    client = docker.from_env()
    try:
        client.containers.get(container["name"]).kill()
    finally:
        client.close()

    def recovered(seen: list[Event]) -> bool:
        states = [data["state"] for _, kind, data in seen if kind == "app" and data["app"] == "live"]
        return "crashed" in states and states[-1] == "running"

    seen = [(kind, data) for _, kind, data in read_events(ctl, after, recovered)]
    deaths = [data for kind, data in seen if kind == "container" and data["action"] in ("stopped", "crashed")]
    assert deaths and deaths[0]["container"] == container["name"] and deaths[0]["app"] == "live"
    states = [data["state"] for kind, data in seen if kind == "app"]
    assert states[0] == "crashed" and states[-1] == "running", seen
