"""Build dirs: one context directory per deploy, handed over to a retry, swept at start."""

import io
from pathlib import Path

import pytest

from controller.adapters.build_dirs import BuildDirs
from controller.domain.errors import InvalidInput
from tests.api.conftest import tar_of as tar_bytes


def tar_of(files: dict[str, bytes]) -> io.BytesIO:
    return io.BytesIO(tar_bytes(files))


def test_a_context_is_created_once_renewed_empty_and_moved(tmp_path: Path) -> None:
    dirs = BuildDirs(tmp_path)
    context = dirs.create("a")
    (context / "Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(FileExistsError):
        dirs.create("a")
    assert dirs.has_dockerfile(context) and dirs.read_app_json(context) is None
    dirs.move("a", "b")
    assert not dirs.exists("a") and dirs.has_dockerfile(dirs.path("b"))
    assert list(dirs.renew("b").iterdir()) == []


def test_sweeping_keeps_only_the_named_contexts(tmp_path: Path) -> None:
    dirs = BuildDirs(tmp_path)
    for deploy_id in ("keep", "stale", "other"):
        dirs.create(deploy_id)
    dirs.discard_all_except({"keep"})
    dirs.discard("missing")  # not an error
    assert [p.name for p in tmp_path.iterdir()] == ["keep"]


def test_an_upload_is_unpacked_with_its_digest_and_app_json(tmp_path: Path) -> None:
    dirs = BuildDirs(tmp_path)
    files = {"Dockerfile": b"FROM scratch\n", "app.json": b'{"healthchecks": {}}'}
    digest = dirs.unpack_archive(tar_of(files), dirs.create("a"), max_bytes=1024)
    assert digest == dirs.unpack_archive(tar_of(files), dirs.create("b"), max_bytes=1024)
    assert dirs.read_app_json(dirs.path("a")) == '{"healthchecks": {}}'
    with pytest.raises(InvalidInput):
        dirs.unpack_archive(tar_of({"../escape": b"x"}), dirs.create("c"), max_bytes=1024)
    assert list(dirs.path("c").iterdir()) == []
