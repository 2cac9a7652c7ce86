"""The one check every way of deploying shares: a build context has a Dockerfile at its top."""

from pathlib import Path

from controller.domain.errors import InvalidInput

DOCKERFILE = "Dockerfile"


def has_dockerfile(context_dir: Path) -> bool:
    """Whether `context_dir` has a file named Dockerfile at its top level."""
    return (context_dir / DOCKERFILE).is_file()


def require_commit_dockerfile(context_dir: Path, commit: str) -> None:
    """Refuse the tree of `commit` (unpacked in `context_dir`) unless it has a Dockerfile at its top.

    Raises:
        InvalidInput: no Dockerfile at the top of the repository.
    """
    if not has_dockerfile(context_dir):
        raise InvalidInput(f"commit {commit[:12]} has no Dockerfile at the top of the repository")
