"""The build layer journal: intermediate images that builds left dangling, pruned later.

Failed, cancelled or timed-out builds, and the earlier stages of multi-stage ones, leave
untagged images behind. `LayerTracker` reads them off the classic builder's output,
`journal_build_layers` records those no image keeps, and `prune_journalled_layers`
removes them once nothing uses them.
"""

import fcntl
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Literal

import docker
import docker.errors

from controller.adapters.docker.errors import TRANSPORT_ERRORS
from controller.adapters.docker.inspection import inspect_image

# The classic builder ends every Dockerfile step with the id of the image it produced.
_STEP_IMAGE = re.compile(r"^ ---> ([0-9a-f]{12,64})\s*$")
_STEP_START = re.compile(r"^Step \d+/\d+ : (\S+)")
_STEP_CACHED = " ---> Using cache"
_STEP_TRIGGERS = "# Executing "
# Parent links walked to tell a successful build's leftover layers from the image's own.
MAX_ANCESTRY = 1000


class LayerTracker:
    """Follows the classic builder's output and keeps the ids of the images its steps created.

    Every step ends with ` ---> <short id>`. Left out: cache hits (the image may be another
    build's) and plain FROM steps (the base image); a FROM that ran ONBUILD triggers made one.
    """

    def __init__(self) -> None:
        self.new_layers: list[str] = []
        self._instruction = ""
        self._cached = False
        self._triggers = False

    def feed(self, line: str) -> None:
        if match := _STEP_START.match(line):
            self._instruction, self._cached, self._triggers = match.group(1).upper(), False, False
        elif line.startswith(_STEP_CACHED):
            self._cached = True
        elif line.startswith(_STEP_TRIGGERS):
            self._triggers = True
        elif match := _STEP_IMAGE.match(line):
            created = self._instruction != "FROM" or self._triggers
            if self._instruction and not self._cached and created:
                self.new_layers.append(match.group(1))
            self._instruction = ""


class LayerJournal:
    """A file of image ids, one a line; a lock file next to it serialises every change."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock_path = path.with_name(path.name + ".lock")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _lines(self) -> list[str]:
        try:
            text = self._path.read_text()
        except FileNotFoundError:
            return []
        return [line.strip() for line in text.splitlines() if line.strip()]

    def read(self) -> list[str]:
        with self._locked():
            return self._lines()

    def add(self, image_ids: Sequence[str]) -> None:
        with self._locked():
            known = set(self._lines())
            new = [image_id for image_id in dict.fromkeys(image_ids) if image_id not in known]
            if not new:
                return
            with self._path.open("a") as journal:
                journal.write("".join(f"{image_id}\n" for image_id in new))
                journal.flush()
                os.fsync(journal.fileno())

    def discard(self, image_ids: set[str]) -> None:
        """Rewrite the journal without `image_ids`, atomically (what was added meanwhile stays)."""
        with self._locked():
            kept = [line for line in self._lines() if line not in image_ids]
            temporary = self._path.with_name(self._path.name + ".tmp")
            with temporary.open("w") as journal:
                journal.write("".join(f"{line}\n" for line in kept))
                journal.flush()
                os.fsync(journal.fileno())
            os.replace(temporary, self._path)


def journal_build_layers(
    journal: LayerJournal, api: docker.APIClient, layers: list[str], *, final_image: str | None
) -> None:
    """Record the build's new layers that no image keeps: all of them when the build failed.

    Best effort: it must never hide the build's own outcome.
    """
    if not layers:
        return
    try:
        full_ids = [full for layer in layers if (full := _resolve_image(api, layer))]
        if final_image is not None:
            ancestry = _ancestry(api, final_image, set(full_ids))
            full_ids = [layer for layer in full_ids if layer not in ancestry]
    except (docker.errors.DockerException, *TRANSPORT_ERRORS):
        if final_image is not None:
            return  # most likely all the image's own parents: they go with it
        full_ids = list(layers)  # Docker went away mid-build: keep the short ids
    with suppress(OSError):
        journal.add(full_ids)


def prune_journalled_layers(journal: LayerJournal, api: docker.APIClient) -> list[str]:
    """Remove the journalled layers that are dangling and unused; return their ids.

    Each is removed without force and without its untagged parents (those may be someone
    else's cached layers); Docker refusing (a child image or a container still uses it)
    keeps it journalled for a later prune. Ids of images that are gone leave the journal.
    """
    removed: list[str] = []
    settled: set[str] = set()
    try:
        # Newest first: a build's later layers are the children of its earlier ones.
        for layer in reversed(journal.read()):
            outcome, image_id = _remove_layer(api, layer)
            if outcome != "kept":
                settled.add(layer)
            if outcome == "removed":
                removed.append(image_id)
    finally:
        if settled:
            journal.discard(settled)
    return removed


def _resolve_image(api: docker.APIClient, reference: str) -> str | None:
    """The full id of `reference`, None when there is no such image."""
    try:
        return str(inspect_image(api, reference)["Id"])
    except docker.errors.NotFound:
        return None


def _ancestry(api: docker.APIClient, image_id: str, wanted: set[str]) -> set[str]:
    """Those of `wanted` that are `image_id` or its parents (the classic builder's parent chain)."""
    found: set[str] = set()
    current = image_id
    for _ in range(MAX_ANCESTRY):
        if current in wanted:
            found.add(current)
        if not current or found == wanted:
            break
        current = str(inspect_image(api, current).get("Parent") or "")
    return found


def _remove_layer(api: docker.APIClient, layer: str) -> tuple[Literal["removed", "gone", "kept"], str]:
    """Remove one journalled layer if it is dangling; without force and keeping its parents.

    "kept" when it stays: tagged, or Docker refused (a child image or a container uses it).
    """
    try:
        image = inspect_image(api, layer)
    except docker.errors.NotFound:
        return "gone", layer
    image_id = str(image["Id"])
    if any(tag != "<none>:<none>" for tag in image.get("RepoTags") or []):
        return "kept", image_id
    try:
        api.remove_image(image_id, noprune=True)
    except docker.errors.NotFound:
        return "gone", image_id
    except docker.errors.APIError as exc:
        if exc.status_code == 409:
            return "kept", image_id
        raise
    return "removed", image_id
