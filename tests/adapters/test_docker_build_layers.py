"""DockerRuntime against the real engine: the dangling layers of its own builds, and nothing else.

Each test uses its own instance id, journal and uniquely tokened Dockerfiles (so no build
cache is shared with other tests), and removes every image it created.
"""

import contextlib
import io
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from controller.adapters.docker.runtime import DockerRuntime
from controller.domain.containers import base_labels, image_tag
from controller.domain.errors import BuildFailed
from controller.services.ports import BuiltImage
from tests.conftest import BUSYBOX_IMAGE

pytestmark = pytest.mark.integration

STEP_IMAGE = re.compile(r"^ ---> ([0-9a-f]{12})$")


class Builds:
    """A runtime with a build-layer journal, plus cleanup of every image a test made."""

    def __init__(self, client: docker.DockerClient, tmp_path: Path) -> None:
        token = secrets.token_hex(4)
        self.client = client
        self.instance = f"test-{token}"
        self.journal = tmp_path / "data" / "build-layers"
        self.runtime = DockerRuntime(
            instance=self.instance, network=f"dockyard-test-{token}", timeout=30, build_layers=self.journal
        )
        self.context_root = tmp_path / "contexts"
        self.made: list[str] = []  # image ids and tags to remove at the end, newest last

    def build(self, dockerfile: str, lines: list[str] | None = None, *, timeout: float = 120) -> BuiltImage:
        context = self.context_root / secrets.token_hex(4)
        context.mkdir(parents=True)
        (context / "Dockerfile").write_text(dockerfile)
        output = lines if lines is not None else []
        try:
            built = self.runtime.build_image(
                context_dir=context,
                tag=image_tag("web", secrets.token_hex(6)),
                labels=base_labels(self.instance, "web"),
                on_log=output.append,
                timeout=timeout,
            )
        finally:
            self.made += step_images(output)
        self.made.append(built.id)
        return built

    def foreign_build(self, dockerfile: str, *, tag: str | None = None) -> list[str]:
        """Build without Dockyard (no labels, no journal); return the steps' image ids."""
        lines: list[str] = []
        for chunk in self.client.api.build(
            fileobj=io.BytesIO(dockerfile.encode()), tag=tag, decode=True, rm=True, forcerm=True
        ):
            lines += (chunk.get("stream") or "").splitlines()
        ids = step_images(lines)
        self.made += ids + ([tag] if tag else [])
        return ids

    def journalled(self) -> list[str]:
        return self.journal.read_text().split() if self.journal.exists() else []

    def exists(self, image: str) -> bool:
        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound:
            return False
        return True

    def full_id(self, image: str) -> str:
        return str(self.client.images.get(image).id)

    def clean(self) -> None:
        for image in reversed(self.made):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                self.client.images.remove(image, force=True)


def step_images(lines: list[str]) -> list[str]:
    """The ` ---> <id>` of every step, the FROM's base image excepted."""
    ids = [match.group(1) for line in lines if (match := STEP_IMAGE.match(line))]
    base = str(docker.from_env().images.get(BUSYBOX_IMAGE).id).removeprefix("sha256:")[:12]
    return [image_id for image_id in ids if image_id != base]


@pytest.fixture
def builds(docker_client: object, busybox_image: str, tmp_path: Path) -> Iterator[Builds]:
    assert isinstance(docker_client, docker.DockerClient)
    made = Builds(docker_client, tmp_path)
    yield made
    made.clean()


def test_a_failed_build_leaves_layers_that_prune_removes_and_nothing_else(builds: Builds) -> None:
    token = secrets.token_hex(8)
    # Not Dockyard's: a dangling layer that our build will reuse from the cache (and so
    # be the parent of our own layer), a dangling layer of an unrelated failed build, and
    # an unlabelled tagged image.
    shared_layer, *_ = builds.foreign_build(f"FROM {BUSYBOX_IMAGE}\nRUN echo {token} > /shared\nRUN exit 4\n")
    foreign_layer, *_ = builds.foreign_build(f"FROM {BUSYBOX_IMAGE}\nRUN echo other-{token}\nRUN exit 5\n")
    unlabelled_tag = f"dockyard-test/unlabelled:{token[:8]}"
    builds.foreign_build(f"FROM {BUSYBOX_IMAGE}\nRUN echo tagged-{token}\n", tag=unlabelled_tag)

    lines: list[str] = []
    with pytest.raises(BuildFailed, match="non-zero code: 3"):
        builds.build(
            f"FROM {BUSYBOX_IMAGE}\nRUN echo {token} > /shared\nRUN echo ours > /ours\nRUN exit 3\n",
            lines,
        )

    assert " ---> Using cache" in lines  # the shared layer came from the cache
    cached, ours = step_images(lines)
    assert cached == shared_layer
    assert builds.client.images.get(ours).tags == []  # an untagged intermediate image
    assert builds.client.images.get(ours).attrs["Parent"] == builds.full_id(shared_layer)
    ours_full = builds.full_id(ours)
    assert builds.journalled() == [ours_full]

    removed = builds.runtime.prune_build_layers()

    assert removed == [ours_full]
    assert not builds.exists(ours_full)
    assert builds.journalled() == []
    for survivor in (shared_layer, foreign_layer, unlabelled_tag, BUSYBOX_IMAGE):
        assert builds.exists(survivor), survivor
    assert builds.runtime.prune_build_layers() == []


def test_a_timed_out_build_journals_the_layers_it_made(builds: Builds) -> None:
    lines: list[str] = []
    with pytest.raises(BuildFailed, match="timed out"):
        builds.build(
            f"FROM {BUSYBOX_IMAGE}\nRUN echo {secrets.token_hex(8)} > /a\nRUN sleep 600\n", lines, timeout=3
        )
    (layer,) = step_images(lines)
    full = builds.full_id(layer)

    assert builds.journalled() == [full]
    assert builds.runtime.prune_build_layers() == [full]


def test_a_layer_still_in_use_stays_journalled_until_it_is_free(builds: Builds) -> None:
    token = secrets.token_hex(8)
    lines: list[str] = []
    with pytest.raises(BuildFailed):
        builds.build(f"FROM {BUSYBOX_IMAGE}\nRUN echo {token} > /a\nRUN exit 3\n", lines)
    (layer,) = step_images(lines)
    full = builds.full_id(layer)
    container = builds.client.containers.create(full, ["true"])
    try:
        assert builds.runtime.prune_build_layers() == []
        assert builds.exists(full)
        assert builds.journalled() == [full]
    finally:
        container.remove(force=True)

    assert builds.runtime.prune_build_layers() == [full]
    assert not builds.exists(full)
    assert builds.journalled() == []


def test_a_successful_build_journals_only_the_layers_its_image_does_not_keep(builds: Builds) -> None:
    token = secrets.token_hex(8)
    lines: list[str] = []
    built = builds.build(
        f"FROM {BUSYBOX_IMAGE} AS stage\nRUN echo {token} > /a\n"
        f"FROM {BUSYBOX_IMAGE}\nCOPY --from=stage /a /a\nRUN cat /a\n",
        lines,
    )
    stage_layer, *own_layers = step_images(lines)
    stage_full = builds.full_id(stage_layer)

    assert builds.journalled() == [stage_full]
    assert builds.runtime.prune_build_layers() == [stage_full]
    assert builds.exists(built.id)
    assert all(builds.exists(layer) for layer in own_layers)

    builds.build(f"FROM {BUSYBOX_IMAGE}\nRUN echo single-{token}\n")
    assert builds.journalled() == []
