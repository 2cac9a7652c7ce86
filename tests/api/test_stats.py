"""`GET /apps/{name}/stats`: container figures from the runtime, request rates from the proxy's meter."""

from dataclasses import replace

from tests.api.conftest import Bed


def test_stats_show_each_container_and_the_request_rates(bed: Bed) -> None:
    bed.create_app("web")
    assert bed.deploy("web")["status"] == "succeeded"
    bed.proxy.requests["web"] = (120, 6)

    response = bed.get("/api/v1/apps/web/stats")

    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["app"] == "web"
    assert stats["requests_per_second"] == 2.0 and stats["errors_per_second"] == 0.1
    assert stats["window_seconds"] == 60.0
    (container,) = stats["containers"]
    assert container["state"] == "running" and container["process"] == "web" and container["restarts"] == 0
    assert container["cpu_percent"] == 12.5
    assert container["memory_used_bytes"] == 8 * 2**20 and container["memory_limit_bytes"] == 512 * 2**20


def test_a_stopped_container_has_no_usage_figures(bed: Bed) -> None:
    bed.create_app("web")
    bed.deploy("web")
    (container,) = bed.runtime.list_containers("web")
    bed.runtime.containers[container.id] = replace(container, state="exited")

    (shown,) = bed.get("/api/v1/apps/web/stats").json()["containers"]

    assert shown["state"] == "exited"
    assert shown["cpu_percent"] is None and shown["memory_used_bytes"] is None


def test_an_app_without_containers_or_traffic_has_zero_rates(bed: Bed) -> None:
    bed.create_app("web")
    stats = bed.get("/api/v1/apps/web/stats").json()
    assert stats == {
        "app": "web",
        "containers": [],
        "requests_per_second": 0.0,
        "errors_per_second": 0.0,
        "window_seconds": 60.0,
    }


def test_stats_need_a_token(bed: Bed) -> None:
    bed.create_app("web")
    assert bed.client.get("/api/v1/apps/web/stats").status_code == 401
    assert (
        bed.client.get("/api/v1/apps/web/stats", headers={"Authorization": "Bearer nope"}).status_code == 401
    )
