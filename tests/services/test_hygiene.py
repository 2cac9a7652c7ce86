"""Hygiene.prune reports the build layers the runtime pruned apart from the images."""

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from controller.domain.models import App, Release
from controller.services.hygiene import Hygiene, percent_used, used_percent


class Store:
    def list_apps(self) -> list[App]:
        return [App(name="web", created_at=datetime(2026, 1, 1, tzinfo=UTC))]

    def list_releases(self, app: str) -> list[Release]:
        return []


class Runtime:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def prune_images(self, app: str, keep_image_ids: set[str]) -> list[str]:
        self.calls.append(f"images:{app}")
        return ["sha256:old"]

    def prune_foreign_app_images(self, apps: set[str]) -> list[str]:
        self.calls.append("foreign")
        return ["sha256:deleted-app"]

    def prune_build_layers(self) -> list[str]:
        self.calls.append("layers")
        return ["sha256:layer"]


def _hygiene(runtime: Runtime, tmp_path: Path, percent: float = 50.0) -> Hygiene:
    return Hygiene(
        store=cast(Any, Store()),
        runtime=cast(Any, runtime),
        data_dir=tmp_path,
        keep_releases=2,
        threshold_percent=80.0,
        measure=lambda: percent,
    )


def test_prune_removes_build_layers_after_the_images(tmp_path: Path) -> None:
    runtime = Runtime()

    report = _hygiene(runtime, tmp_path).prune()

    assert report.removed_images == ["sha256:old", "sha256:deleted-app"]
    assert report.removed_layers == ["sha256:layer"]
    assert runtime.calls == ["images:web", "foreign", "layers"]


def test_a_full_disk_prunes_build_layers_too(tmp_path: Path) -> None:
    report = _hygiene(Runtime(), tmp_path, percent=95.0).prune_if_full()

    assert report is not None
    assert report.removed_layers == ["sha256:layer"]


def test_disk_use_is_counted_as_df_does() -> None:
    """used / (used + available): the root-reserved blocks are nobody's free space."""
    # df: 26056384 used, 80334528 available of 264212084 1K-blocks -> 25 % (used/total would be 9.9 %)
    assert round(percent_used(26056384, 80334528), 1) == 24.5
    assert percent_used(0, 0) == 0.0


def test_disk_use_matches_df_on_this_machine(tmp_path: Path) -> None:
    shown = subprocess.run(
        ["df", "--output=used,avail,pcent", str(tmp_path)], capture_output=True, text=True, check=True
    ).stdout.splitlines()[1]
    used, avail, pcent = shown.split()
    percent = used_percent(tmp_path)
    # df rounds up to whole percent, and the disk may change a little between the two reads.
    assert int(pcent.rstrip("%")) - 1.5 <= percent <= int(pcent.rstrip("%")) + 0.5, (shown, percent)
    assert abs(percent - percent_used(int(used), int(avail))) < 0.5
