"""The system router and the health check: Docker's state, disk usage, pruning what Dockyard owns."""

from tests.api.conftest import Bed


def test_health_says_whether_docker_answers(bed: Bed) -> None:
    up = bed.client.get("/api/v1/health").json()
    assert up["status"] == "ok" and up["docker"] is True and up["version"]
    bed.runtime.down = True
    down = bed.client.get("/api/v1/health")
    assert down.status_code == 200
    assert down.json()["docker"] is False


def test_df_counts_dockyards_images_containers_and_data_dir(bed: Bed) -> None:
    bed.create_app("web")
    bed.deploy("web")
    report = bed.get("/api/v1/system/df").json()
    assert report["images"] == 1 and report["image_bytes"] == 1000
    assert report["containers"] == 1
    assert report["data_dir_bytes"] > 0
    assert report["disk_used_percent"] == 10.0


def test_prune_removes_images_of_deleted_apps_and_keeps_the_serving_one(bed: Bed) -> None:
    bed.create_app("web")
    bed.deploy("web")
    serving = set(bed.runtime.images["web"])
    bed.runtime.images["gone"] = {"sha256:" + "0" * 64}
    response = bed.post("/api/v1/system/prune")
    assert response.status_code == 200, response.text
    assert response.json() == {"removed_images": ["sha256:" + "0" * 64], "removed_layers": []}
    assert bed.runtime.images["web"] == serving and "gone" not in bed.runtime.images


def test_df_and_prune_while_docker_is_down_are_a_503(bed: Bed) -> None:
    bed.runtime.down = True
    for response in (bed.get("/api/v1/system/df"), bed.post("/api/v1/system/prune")):
        assert response.status_code == 503, response.text
        assert "not reachable" in response.json()["detail"]
