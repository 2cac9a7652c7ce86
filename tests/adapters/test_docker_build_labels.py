"""DockerRuntime against the real engine: image labels in one LABEL step, the app's context intact.

Each test has its own instance id and uniquely tokened Dockerfiles, and removes its images.
"""

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from controller.adapters.docker.runtime import DockerRuntime
from controller.domain.containers import LABEL_DEPLOY, base_labels, image_tag
from controller.services.ports import BuiltImage
from tests.conftest import BUSYBOX_IMAGE

pytestmark = pytest.mark.integration


class Labelled:
    def __init__(self, client: docker.DockerClient, tmp_path: Path) -> None:
        token = secrets.token_hex(4)
        self.client = client
        self.instance = f"test-{token}"
        self.runtime = DockerRuntime(instance=self.instance, network=f"dockyard-test-{token}", timeout=30)
        self.tmp_path = tmp_path
        self.made: list[str] = []

    def build(self, context: Path, lines: list[str] | None = None) -> tuple[BuiltImage, str]:
        deploy_id = secrets.token_hex(8)
        output = lines if lines is not None else []
        built = self.runtime.build_image(
            context_dir=context,
            tag=image_tag("web", deploy_id),
            labels=base_labels(self.instance, "web") | {LABEL_DEPLOY: deploy_id},
            on_log=output.append,
            timeout=120,
        )
        self.made.append(built.id)
        return built, deploy_id

    def run(self, image: str, *command: str) -> str:
        output = self.client.containers.run(image, list(command), remove=True)
        return bytes(output).decode()

    def close(self) -> None:
        for image in reversed(self.made):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                self.client.images.remove(image, force=True)


@pytest.fixture
def labelled(docker_client: docker.DockerClient, busybox_image: str, tmp_path: Path) -> Iterator[Labelled]:
    with contextlib.closing(Labelled(docker_client, tmp_path)) as made:
        yield made


def label_steps(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("Step ") and " : LABEL " in line]


def test_image_labels_come_from_one_label_step(labelled: Labelled, tmp_path: Path) -> None:
    context = tmp_path / "app"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {BUSYBOX_IMAGE}\nRUN echo {secrets.token_hex(8)} > /token\n")
    lines: list[str] = []

    built, deploy_id = labelled.build(context, lines)

    expected = base_labels(labelled.instance, "web") | {LABEL_DEPLOY: deploy_id}
    labels = labelled.client.images.get(built.id).labels
    assert {key: labels.get(key) for key in expected} == expected
    assert len(label_steps(lines)) == 1, label_steps(lines)  # the builder's labels= made one per label


def test_copy_of_the_context_is_the_apps_own_and_keeps_its_layer_cache(
    labelled: Labelled, tmp_path: Path
) -> None:
    context = tmp_path / "app"
    (context / "src").mkdir(parents=True)
    dockerfile = f"FROM {BUSYBOX_IMAGE}\n# {secrets.token_hex(8)}\nCOPY . /app\n"
    (context / "Dockerfile").write_text(dockerfile)
    (context / ".dockerignore").write_text("# not for the image\nsecret.txt\n")
    (context / "secret.txt").write_text("left out")
    (context / "src" / "main.txt").write_text("hello")

    first, _ = labelled.build(context)
    lines: list[str] = []
    second, _ = labelled.build(context, lines)

    assert sorted(labelled.run(first.id, "ls", "-A", "/app").split()) == [
        ".dockerignore",
        "Dockerfile",
        "src",
    ]
    assert labelled.run(first.id, "cat", "/app/Dockerfile") == dockerfile
    assert "secret.txt" in labelled.run(first.id, "cat", "/app/.dockerignore")
    copy_step = next(i for i, line in enumerate(lines) if line.startswith("Step ") and " : COPY " in line)
    assert lines[copy_step + 1] == " ---> Using cache", lines  # only the labels differ
    assert first.id != second.id


def test_context_without_dockerignore_gains_none(labelled: Labelled, tmp_path: Path) -> None:
    context = tmp_path / "app"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {BUSYBOX_IMAGE}\n# {secrets.token_hex(8)}\nCOPY . /app\n")

    built, _ = labelled.build(context)

    assert labelled.run(built.id, "ls", "-A", "/app").split() == ["Dockerfile"]


def test_a_dockerfile_ending_in_a_continuation_still_gets_its_labels(
    labelled: Labelled, tmp_path: Path
) -> None:
    context = tmp_path / "app"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {BUSYBOX_IMAGE}\nRUN echo {secrets.token_hex(8)} > /token \\\n"
    )

    built, deploy_id = labelled.build(context)

    labels = labelled.client.images.get(built.id).labels
    assert labels[LABEL_DEPLOY] == deploy_id and labels["io.dockyard.app"] == "web"
