"""`POST /apps/{name}/redeploy`: build an app's current source again, whichever way it came."""

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import Bed, open_bed

GIT_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": "/nonexistent",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


@pytest.fixture
def local_bed(tmp_path: Path, migrated_database: Path) -> Iterator[Bed]:
    """A controller that may fetch sources from local (file://) repositories."""
    with open_bed(tmp_path, migrated_database, git_allow_local_sources=True) as opened:
        yield opened


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True
    ).stdout.strip()


def commit_dockerfile(work: Path, text: str) -> str:
    """A commit of a tree with just a Dockerfile on `main` of the repo at `work` (made if new)."""
    if not work.exists():
        git("init", "--quiet", "--initial-branch=main", str(work))
    (work / "Dockerfile").write_text(text)
    git("add", "Dockerfile", cwd=work)
    git("commit", "--quiet", "-m", text, cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def test_a_source_repository_app_builds_the_head_of_its_branch(local_bed: Bed, tmp_path: Path) -> None:
    bed = local_bed
    bed.create_app("web")
    work = tmp_path / "src"
    commit_dockerfile(work, "FROM scratch\n")
    head = commit_dockerfile(work, "FROM scratch\nLABEL v=2\n")
    source = bed.put("/api/v1/apps/web/source", json={"repo_url": f"file://{work}"})
    assert source.status_code == 200, source.text
    response = bed.post("/api/v1/apps/web/redeploy")
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["kind"] == "build" and created["status"] in ("queued", "running")
    assert created["description"] == "redeploy of the head of main (source repository) by api"
    done = bed.finished(created["id"])
    assert done["status"] == "succeeded", done["log"]
    assert f"main is at {head[:12]}" in done["log"]
    releases = bed.get("/api/v1/apps/web/releases").json()
    assert [r["deploy_id"] for r in releases] == [created["id"]]


def test_a_pushed_app_builds_the_head_of_its_deploy_branch(bed: Bed, tmp_path: Path) -> None:
    bed.create_app("web")
    head = commit_dockerfile(tmp_path / "src", "FROM scratch\n")
    repo = bed.settings.git_dir / "repos" / "web.git"
    git("--git-dir", str(repo), "fetch", "--quiet", str(tmp_path / "src"), "main:main")  # no hook
    first = bed.post("/api/v1/apps/web/redeploy")
    assert first.status_code == 202, first.text
    assert first.json()["description"] == f"redeploy {head[:12]} (main) by api"
    assert bed.finished(first.json()["id"])["status"] == "succeeded"
    again = bed.finished(bed.post("/api/v1/apps/web/redeploy").json()["id"])
    assert again["status"] == "succeeded", again["log"]
    releases = bed.get("/api/v1/apps/web/releases").json()
    assert [r["number"] for r in releases] == [2, 1]
    assert releases[0]["source_digest"] == releases[1]["source_digest"]


def test_an_uploaded_app_is_a_409_that_says_how_to_deploy_it(bed: Bed) -> None:
    bed.create_app("web")
    never = bed.post("/api/v1/apps/web/redeploy")
    assert never.status_code == 409, never.text
    assert never.json()["detail"] == "web has nothing deployed yet"
    assert bed.deploy("web")["status"] == "succeeded"
    uploaded = bed.post("/api/v1/apps/web/redeploy")
    assert uploaded.status_code == 409, uploaded.text
    assert uploaded.json()["detail"] == (
        "web was deployed from an uploaded directory, whose source Dockyard does not keep: "
        "run dockyard deploy web --path DIR"
    )
    assert len(bed.get("/api/v1/apps/web/deploys").json()) == 1


def test_an_unknown_app_is_a_404_and_no_token_a_401(bed: Bed) -> None:
    assert bed.post("/api/v1/apps/ghost/redeploy").status_code == 404
    bed.create_app("web")
    assert bed.client.post("/api/v1/apps/web/redeploy").status_code == 401
    wrong = bed.client.post("/api/v1/apps/web/redeploy", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert bed.get("/api/v1/apps/web/deploys").json() == []
