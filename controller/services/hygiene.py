"""Disk hygiene: what Dockyard uses on disk, and pruning only what Dockyard owns."""

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from controller.domain.retention import kept_images
from controller.services.ports import Runtime, Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DiskReport:
    """`dockyard system df`."""

    images: int
    image_bytes: int
    containers: int
    container_bytes: int
    data_dir_bytes: int
    disk_used_percent: float


@dataclass(frozen=True)
class PruneReport:
    """`dockyard system prune`."""

    removed_images: list[str] = field(default_factory=list)
    removed_layers: list[str] = field(default_factory=list)
    """Dangling intermediate images of Dockyard's failed (or multi-stage) builds."""


def tree_size(path: Path) -> int:
    """Bytes of the regular files below `path` (links not followed)."""
    total = 0
    for child in path.rglob("*"):
        try:
            if child.is_file() and not child.is_symlink():
                total += child.stat().st_size
        except OSError:
            continue
    return total


def percent_used(used: int, available: int) -> float:
    """Disk use as `df` shows it: used / (used + available to users).

    Not used / total: the blocks reserved for root (and any the filesystem keeps back)
    are in neither, so a disk at used/total 9 % can be a quarter full for its users.
    """
    return 100.0 * used / (used + available) if used + available else 0.0


def used_percent(path: Path) -> float:
    usage = shutil.disk_usage(path)
    return percent_used(usage.used, usage.free)


class Hygiene:
    """Keeps the last K images of each app's releases; removes images of deleted apps; prunes when full."""

    def __init__(
        self,
        *,
        store: Store,
        runtime: Runtime,
        data_dir: Path,
        keep_releases: int,
        threshold_percent: float,
        measure: Callable[[], float] | None = None,
    ) -> None:
        self._store = store
        self._runtime = runtime
        self._data_dir = data_dir
        self._keep = keep_releases
        self._threshold = threshold_percent
        self._measure = measure or (lambda: used_percent(data_dir))

    def disk_usage(self) -> DiskReport:
        docker = self._runtime.disk_usage()
        return DiskReport(
            images=docker["images"],
            image_bytes=docker["image_bytes"],
            containers=docker["containers"],
            container_bytes=docker["container_bytes"],
            data_dir_bytes=tree_size(self._data_dir),
            disk_used_percent=round(self._measure(), 1),
        )

    def prune(self) -> PruneReport:
        removed: list[str] = []
        apps = self._store.list_apps()
        for app in apps:
            releases = self._store.list_releases(app.name)
            keep = kept_images(releases, keep=self._keep, current=app.current_release)
            removed += self._runtime.prune_images(app.name, keep)
        removed += self._runtime.prune_foreign_app_images({app.name for app in apps})
        return PruneReport(removed_images=removed, removed_layers=self._runtime.prune_build_layers())

    def prune_if_full(self) -> PruneReport | None:
        """Prune when the disk is fuller than the threshold (called by the reconciler)."""
        percent = self._measure()
        if percent < self._threshold:
            return None
        report = self.prune()
        logger.warning(
            "disk %.0f%% full (threshold %.0f%%): pruned %d image(s) and %d build layer(s)",
            percent,
            self._threshold,
            len(report.removed_images),
            len(report.removed_layers),
        )
        return report
