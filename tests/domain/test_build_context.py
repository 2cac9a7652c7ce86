"""The one Dockerfile check every way of deploying shares."""

from pathlib import Path

import pytest

from controller.domain.build_context import has_dockerfile, require_commit_dockerfile
from controller.domain.errors import InvalidInput


def test_a_dockerfile_at_the_top(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    assert has_dockerfile(tmp_path)
    require_commit_dockerfile(tmp_path, "0123456789abcdef")


@pytest.mark.parametrize("where", ["sub/Dockerfile", "dockerfile"])
def test_no_dockerfile_at_the_top(tmp_path: Path, where: str) -> None:
    (tmp_path / where).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / where).write_text("FROM scratch\n")
    (tmp_path / "Dockerfile.d").mkdir()
    assert not has_dockerfile(tmp_path)
    with pytest.raises(
        InvalidInput, match="commit 0123456789ab has no Dockerfile at the top of the repository"
    ):
        require_commit_dockerfile(tmp_path, "0123456789abcdef")


def test_a_directory_named_dockerfile_is_not_one(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").mkdir()
    assert not has_dockerfile(tmp_path)
