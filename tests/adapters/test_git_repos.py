"""Bare repos and source mirrors with real git (GitPython)."""

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from controller.adapters.git_repos import BareRepos, SourceMirrors
from controller.domain.git_refs import SourceUnavailable
from controller.services.git_ports import FetchAuth


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def make_upstream(path: Path) -> tuple[str, str]:
    """A repo with two commits on main and one on a side branch; returns (main head, side head)."""
    path.mkdir()
    git("init", "-q", "-b", "main", cwd=path)
    git("config", "user.email", "t@example.com", cwd=path)
    git("config", "user.name", "t", cwd=path)
    (path / "Dockerfile").write_text("FROM scratch\n")
    git("add", ".", cwd=path)
    git("commit", "-qm", "one", cwd=path)
    (path / "app.txt").write_text("two\n")
    git("add", ".", cwd=path)
    git("commit", "-qm", "two", cwd=path)
    main = git("rev-parse", "HEAD", cwd=path)
    git("checkout", "-qb", "side", cwd=path)
    (path / "side.txt").write_text("side\n")
    git("add", ".", cwd=path)
    git("commit", "-qm", "side", cwd=path)
    side = git("rev-parse", "HEAD", cwd=path)
    git("checkout", "-q", "main", cwd=path)
    return main, side


def test_bare_repo_gets_hook_head_and_http_push(tmp_path: Path) -> None:
    repos = BareRepos(
        tmp_path / "repos", hook_command=["/opt/dockyard/bin/dockyard", "git-hook", "pre-receive"], owner=None
    )
    path = repos.ensure("web", branch="main")
    assert repos.exists("web") and path == tmp_path / "repos" / "web.git"
    hook = path / "hooks" / "pre-receive"
    assert hook.read_text().endswith("exec /opt/dockyard/bin/dockyard git-hook pre-receive web\n")
    assert hook.stat().st_mode & 0o777 == 0o755
    assert git("config", "--get", "http.receivepack", cwd=path) == "true"
    assert git("symbolic-ref", "HEAD", cwd=path) == "refs/heads/main"
    repos.ensure("web", branch="production")
    assert git("symbolic-ref", "HEAD", cwd=path) == "refs/heads/production"
    repos.delete("web")
    assert not path.exists()


def test_mirror_fetches_the_commit_and_archives_its_tree(tmp_path: Path) -> None:
    main, side = make_upstream(tmp_path / "upstream")
    mirrors = SourceMirrors(tmp_path / "mirrors", allowed_protocols=["file"])
    url = f"file://{tmp_path / 'upstream'}"
    mirrors.fetch("web", url=url, branch="main", commit=main, auth=FetchAuth())
    with tarfile.open(fileobj=io.BytesIO(mirrors.archive("web", main))) as tar:
        assert sorted(tar.getnames()) == ["Dockerfile", "app.txt"]
    # Not on the branch, but the server has it: fetched by its id.
    mirrors.fetch("web", url=url, branch="main", commit=side, auth=FetchAuth())
    with tarfile.open(fileobj=io.BytesIO(mirrors.archive("web", side))) as tar:
        assert "side.txt" in tar.getnames()
    with pytest.raises(SourceUnavailable):
        mirrors.fetch("web", url=url, branch="main", commit="c" * 40, auth=FetchAuth())
    mirrors.delete("web")
    assert not (tmp_path / "mirrors" / "web.git").exists()


def test_mirror_fetches_the_head_of_a_branch_as_it_is_now(tmp_path: Path) -> None:
    main, side = make_upstream(tmp_path / "upstream")
    mirrors = SourceMirrors(tmp_path / "mirrors", allowed_protocols=["file"])
    url = f"file://{tmp_path / 'upstream'}"
    assert mirrors.fetch_head("web", url=url, branch="main", auth=FetchAuth()) == main
    assert mirrors.fetch_head("web", url=url, branch="side", auth=FetchAuth()) == side
    git("reset", "-q", "--hard", side, cwd=tmp_path / "upstream")  # main moves (a force push upstream)
    assert mirrors.fetch_head("web", url=url, branch="main", auth=FetchAuth()) == side
    with tarfile.open(fileobj=io.BytesIO(mirrors.archive("web", side))) as tar:
        assert "side.txt" in tar.getnames()
    with pytest.raises(SourceUnavailable, match="cannot fetch branch gone"):
        mirrors.fetch_head("web", url=url, branch="gone", auth=FetchAuth())


def test_bare_repo_archives_the_head_of_a_pushed_branch(tmp_path: Path) -> None:
    repos = BareRepos(tmp_path / "repos", hook_command=["true"], owner=None)
    assert repos.archive_branch("web", "main") is None  # no repo
    path = repos.ensure("web", branch="main")
    assert repos.archive_branch("web", "main") is None  # nothing pushed yet
    main, _ = make_upstream(tmp_path / "upstream")
    git("fetch", "-q", str(tmp_path / "upstream"), "main:main", cwd=path)
    pushed = repos.archive_branch("web", "main")
    assert pushed is not None and pushed[0] == main
    with tarfile.open(fileobj=io.BytesIO(pushed[1])) as tar:
        assert sorted(tar.getnames()) == ["Dockerfile", "app.txt"]
    assert repos.archive_branch("web", "side") is None


def test_mirror_refuses_transports_not_allowed(tmp_path: Path) -> None:
    main, _ = make_upstream(tmp_path / "upstream")
    mirrors = SourceMirrors(tmp_path / "mirrors", allowed_protocols=["https", "ssh"])
    with pytest.raises(SourceUnavailable, match="transport 'file' not allowed"):
        mirrors.fetch(
            "web", url=f"file://{tmp_path / 'upstream'}", branch="main", commit=main, auth=FetchAuth()
        )


def test_a_restart_rewrites_nothing_unchanged_and_repairs_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repos = BareRepos(tmp_path / "repos", hook_command=["dockyard", "git-hook"], owner=None)
    path = repos.ensure("web", branch="main")
    hook = path / "hooks" / "pre-receive"
    before = (hook.stat().st_ino, (path / "HEAD").stat().st_ino)
    calls: list[list[str]] = []
    real_run = subprocess.run

    def counting_run(args: list[str], **kwargs: object) -> object:
        calls.append(args)
        return real_run(args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(subprocess, "run", counting_run)

    repos.ensure("web", branch="main")
    assert calls == [] and (hook.stat().st_ino, (path / "HEAD").stat().st_ino) == before

    git("config", "--file", str(path / "config"), "--unset", "http.receivepack", cwd=tmp_path)
    hook.write_text("#!/bin/sh\nexit 0\n")
    repos.ensure("web", branch="deploy")
    assert git("config", "--file", str(path / "config"), "http.receivepack", cwd=tmp_path) == "true"
    assert "git-hook web" in hook.read_text()
    assert (path / "HEAD").read_text() == "ref: refs/heads/deploy\n"
