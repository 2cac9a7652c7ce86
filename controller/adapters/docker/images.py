"""Dockyard's own images: which are present, pruning them, and the disk they take."""

from collections.abc import Collection
from typing import Any

import docker
import docker.errors

from controller.adapters.docker.inspection import full_image_id
from controller.domain.containers import LABEL_APP


def present_images(api: docker.APIClient, labels: list[str], image_ids: Collection[str]) -> set[str]:
    """Those of `image_ids` that are still among the images with `labels` (one list call)."""
    present = {image["Id"] for image in api.images(filters={"label": labels})}
    return {image_id for image_id in image_ids if full_image_id(image_id) in present}


def prune_images(api: docker.APIClient, labels: list[str], keep_image_ids: set[str]) -> list[str]:
    """Remove the images with `labels` that are neither kept nor used by a container."""
    keep = {full_image_id(image_id) for image_id in keep_image_ids}
    images = api.images(filters={"label": labels})
    protected = keep | {summary["ImageID"] for summary in api.containers(all=True)}
    return [image["Id"] for image in images if image["Id"] not in protected and _remove_image(api, image)]


def prune_foreign_app_images(api: docker.APIClient, labels: list[str], apps: set[str]) -> list[str]:
    """Remove the images with `labels` of apps not in `apps` (and that no container uses)."""
    used = {summary["ImageID"] for summary in api.containers(all=True)}
    return [
        image["Id"]
        for image in api.images(filters={"label": labels})
        if (image.get("Labels") or {}).get(LABEL_APP) not in apps
        and image["Id"] not in used
        and _remove_image(api, image)
    ]


def disk_usage(api: docker.APIClient, labels: list[str]) -> dict[str, int]:
    """Bytes and counts of the images and containers with `labels`."""
    images = api.images(filters={"label": labels})
    containers = api.containers(all=True, size=True, filters={"label": labels})
    return {
        "images": len(images),
        "image_bytes": sum(int(image.get("Size", 0)) for image in images),
        "containers": len(containers),
        "container_bytes": sum(int(c.get("SizeRw", 0) or 0) for c in containers),
    }


def _remove_image(api: docker.APIClient, image: dict[str, Any]) -> bool:
    """Untag (then delete) one image without force; False when Docker refuses (in use)."""
    tags = [tag for tag in image.get("RepoTags") or [] if tag != "<none>:<none>"]
    try:
        for reference in tags or [image["Id"]]:
            api.remove_image(reference)
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as exc:
        if exc.status_code == 409:
            return False
        raise
    return True
