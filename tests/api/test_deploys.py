"""Routes of deploys: upload a build context, list, inspect, follow, cancel, events."""

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from tests.api.conftest import AUTH, Bed, tar_of
from tests.api.fakes import FAIL_BUILD


def test_an_upload_builds_releases_and_routes(bed: Bed) -> None:
    bed.create_app("web")
    bed.post("/api/v1/apps/web/domains", json={"domain": "web.example.com"})
    deploy = bed.deploy("web", {"Dockerfile": b"FROM scratch\n", "app.json": b"{}"})
    assert deploy["status"] == "succeeded" and deploy["kind"] == "build"
    assert "is live at http" in deploy["log"] and "web.example.com" in deploy["log"]
    assert bed.proxy.sites is not None
    (site,) = bed.proxy.sites
    assert len(site.backends) == 1 and site.backends[0].endswith(":8080")

    builds = [d["id"] for d in bed.get("/api/v1/apps/web/deploys").json() if d["kind"] == "build"]
    assert builds == [deploy["id"]]  # next to the certificate job the domain queued
    assert deploy["id"] in [d["id"] for d in bed.get("/api/v1/deploys").json()]
    assert bed.get(f"/api/v1/deploys/{deploy['id']}/log").text == deploy["log"]


def test_a_failed_build_leaves_the_old_release_serving(bed: Bed) -> None:
    bed.create_app("web")
    bed.deploy("web")
    serving = {c.id for c in bed.runtime.list_containers("web")}
    failed = bed.deploy("web", {"Dockerfile": b"FROM scratch\n", FAIL_BUILD: b""})
    assert failed["status"] == "failed" and "RUN step failed" in failed["error"]
    assert {c.id for c in bed.runtime.list_containers("web")} == serving
    assert bed.get("/api/v1/apps/web").json()["current_release"] == 1


def test_an_unhealthy_release_is_not_switched_to(bed: Bed) -> None:
    bed.create_app("web")
    bed.deploy("web")
    bed.prober.status = 502
    rollout = bed.services.deploys._rollout
    rollout.settings = replace(rollout.settings, health_timeout=0.0)
    failed = bed.deploy("web")
    assert failed["status"] == "failed" and "health check" in failed["error"]
    assert bed.get("/api/v1/apps/web").json()["current_release"] == 1
    assert len(bed.runtime.list_containers("web")) == 1


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"", "tar archive"),
        (b"not a tar at all", ""),
        (tar_of({"README": b"no dockerfile"}), "Dockerfile"),
        (tar_of({"../escape/Dockerfile": b"FROM scratch\n"}), ""),
        (tar_of({"/abs/Dockerfile": b"FROM scratch\n"}), ""),
    ],
)
def test_a_bad_build_context_is_refused_and_queues_nothing(bed: Bed, body: bytes, detail: str) -> None:
    bed.create_app("web")
    response = bed.post("/api/v1/apps/web/deploys", content=body)
    assert response.status_code == 400, response.text
    assert detail in response.json()["detail"]
    assert bed.get("/api/v1/apps/web/deploys").json() == []
    assert list(bed.settings.builds_dir.iterdir()) == []


def test_an_upload_while_docker_is_down_is_a_503(bed: Bed) -> None:
    bed.create_app("web")
    bed.runtime.down = True
    response = bed.post("/api/v1/apps/web/deploys", content=tar_of({"Dockerfile": b"FROM scratch\n"}))
    assert response.status_code == 503
    assert bed.client.get("/api/v1/health").json()["docker"] is False
    bed.runtime.down = False
    assert bed.get("/api/v1/apps/web/deploys").json() == []


def test_unknown_deploys_are_404(bed: Bed) -> None:
    for method, url in [
        ("GET", "/api/v1/deploys/0123456789abcdef"),
        ("GET", "/api/v1/deploys/0123456789abcdef/log"),
        ("POST", "/api/v1/deploys/0123456789abcdef/cancel"),
        ("GET", "/api/v1/deploys/..%2F..%2Fetc%2Fpasswd/log"),
    ]:
        response = bed.client.request(method, url, headers=AUTH)
        assert response.status_code == 404, (url, response.text)


def test_a_finished_deploy_cannot_be_cancelled(bed: Bed) -> None:
    bed.create_app("web")
    deploy = bed.deploy("web")
    response = bed.post(f"/api/v1/deploys/{deploy['id']}/cancel")
    assert response.status_code == 409
    assert "succeeded" in response.json()["detail"]


def test_a_queued_deploy_is_cancelled_at_once(bed: Bed) -> None:
    """With the dispatcher stopped nothing runs: the deploy stays queued until cancelled."""
    bed.services.deploys._dispatcher.stop()
    bed.create_app("web")
    queued = bed.post("/api/v1/apps/web/scale", json={"web": 2}).json()
    assert queued["status"] == "queued"
    cancelled = bed.post(f"/api/v1/deploys/{queued['id']}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"
    assert "cancelled before it started" in bed.get(f"/api/v1/deploys/{queued['id']}/log").text


@pytest.mark.parametrize("limit", [0, 501, "x"])
def test_list_limits_are_bounded(bed: Bed, limit: object) -> None:
    bed.create_app("web")
    assert bed.get("/api/v1/deploys", params={"limit": limit}).status_code == 422
    assert bed.get("/api/v1/apps/web/deploys", params={"limit": limit}).status_code == 422


def test_events_stream_deploy_changes(bed: Bed) -> None:
    bed.create_app("web")
    with bed.client.stream("GET", "/api/v1/events", headers=AUTH) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        chunks = stream.iter_raw()
        assert next(chunks).startswith(b": connected")
        deploy = bed.post("/api/v1/apps/web/scale", json={"web": 2}).json()
        seen: list[dict[str, object]] = []
        for chunk in chunks:
            for block in chunk.decode().split("\n\n"):
                if block.startswith("event: deploy"):
                    seen.append(json.loads(block.split("data: ", 1)[1]))
            if any(e["id"] == deploy["id"] and e["status"] == "succeeded" for e in seen):
                break
    assert [e["status"] for e in seen if e["id"] == deploy["id"]][-1] == "succeeded"


def _sse_events(chunks: Iterator[bytes], count: int) -> list[tuple[str, str, dict[str, Any]]]:
    """The next `count` events of an SSE stream as (event, id, data)."""
    events: list[tuple[str, str, dict[str, Any]]] = []
    buffer = ""
    for chunk in chunks:
        buffer += chunk.decode()
        *blocks, buffer = buffer.split("\n\n")
        for block in blocks:
            fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
            if fields:
                events.append((fields["event"], fields["id"], json.loads(fields["data"])))
        if len(events) >= count:
            return events
    raise AssertionError(f"the stream ended after {events}")


def test_events_resume_after_the_last_event_id_with_exactly_what_was_missed(bed: Bed) -> None:
    bed.create_app("web")
    bed.services.events.publish("deploy", n=0)
    with bed.client.stream("GET", "/api/v1/events", headers=AUTH, params={"after": "x-0"}) as stream:
        ((kind, last_id, _),) = _sse_events(stream.iter_raw(), 1)
    assert kind == "resync"  # an id of no event of this controller
    for n in (1, 2, 3):  # while nobody listens
        bed.services.events.publish("deploy", n=n)
    with bed.client.stream("GET", "/api/v1/events", headers={**AUTH, "Last-Event-ID": last_id}) as stream:
        missed = _sse_events(stream.iter_raw(), 3)
    assert [data["n"] for _, _, data in missed] == [1, 2, 3]
    assert len({event_id for _, event_id, _ in missed}) == 3
