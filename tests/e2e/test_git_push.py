"""`git push` to deploy with the real git client: over SSH (a private sshd whose forced command is
`dockyard git-shell`) and over smart HTTP, through a real controller, Docker and nginx.
"""

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_static_app
from tests.e2e.conftest import BASE_DOMAIN, DOCKYARD, TOKEN, Controller, make_controller
from tests.e2e.git_support import (
    GitClient,
    SshServer,
    TimedPush,
    git_controller,
    require_git_testbed,
    traversable_dir,
)

pytestmark = pytest.mark.integration


@dataclass
class GitEnv:
    ctl: Controller
    sshd: SshServer
    client: GitClient
    base: Path

    def http_remote(self, app: str, token: str = TOKEN) -> str:
        return f"http://git:{token}@127.0.0.1:{self.ctl.api_port}/git/{app}.git"

    def new_app(self, app: str, body: str) -> tuple[Path, str]:
        """Create the app and a local repo with one commit serving `body`."""
        self.ctl.cli("apps", "create", app)
        repo = write_static_app(self.base / "work" / app, body=body)
        return repo, self.client.commit_all(repo, body)

    def deploys(self, app: str) -> list[dict[str, Any]]:
        response = self.ctl.api("GET", f"/apps/{app}/deploys")
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()
        return items

    def remote_head(self, remote: str, branch: str = "main") -> str:
        out = self.client.run("ls-remote", remote, f"refs/heads/{branch}", cwd=self.base).stdout
        return out.split()[0] if out.strip() else ""


@pytest.fixture(scope="module")
def git_env(busybox_image: str) -> Iterator[GitEnv]:
    require_git_testbed()
    with traversable_dir("dockyard-git-e2e-") as base:
        ctl = git_controller(base)
        sshd = SshServer(directory=base / "sshd", authorized_keys=base / "ssh" / "authorized_keys")
        ctl.start()
        try:
            sshd.start()
            client = GitClient(home=base / "client", ssh_port=sshd.port)
            ctl.cli("keys", "add", "tester", str(client.public_key))
            yield GitEnv(ctl=ctl, sshd=sshd, client=client, base=base)
        finally:
            sshd.stop()
            ctl.cleanup()


def assert_streamed_live(push: TimedPush, deploy: dict[str, Any]) -> None:
    """The build log's first `remote:` line reached the client before the deploy finished.

    Timestamps, not sleeps: when each line arrived at the client against the deploy's own
    finished_at (same machine, same clock).
    """
    first = push.first_remote_line_at()
    first_build_line = next(at for at, line in push.lines if line.startswith("remote:") and "Step 1/" in line)
    finished = datetime.fromisoformat(deploy["finished_at"]).timestamp()
    last = max(at for at, line in push.lines if line.startswith("remote:"))
    print(
        f"first remote line {first:.3f}, first build line {first_build_line:.3f}, "
        f"deploy finished {finished:.3f}, last remote line {last:.3f}"
    )
    assert first <= first_build_line < finished, (first_build_line, finished)
    assert last - first_build_line > 0.1, "the log arrived in one burst at the end"


def test_push_over_ssh_deploys_the_commit_and_streams_the_log(git_env: GitEnv) -> None:
    repo, sha = git_env.new_app("sshpush", "ssh-v1")
    remote = git_env.client.ssh_remote("sshpush")
    push = git_env.client.timed_push(repo, remote, "main")
    assert push.returncode == 0, push.text

    (deploy,) = git_env.deploys("sshpush")
    assert deploy["status"] == "succeeded" and sha[:12] in deploy["description"]
    assert "by tester" in deploy["description"]
    assert_streamed_live(push, deploy)
    assert "remote: -----> Building image" in push.text
    assert f"remote: =====> sshpush: http://sshpush.{BASE_DOMAIN}:{git_env.ctl.http_port}" in push.text
    assert git_env.ctl.get_app("sshpush").text.strip() == "ssh-v1"
    assert git_env.remote_head(remote) == sha

    clone = git_env.base / "clones" / "sshpush"
    git_env.client.run("clone", "-q", remote, str(clone), cwd=git_env.base)
    assert (clone / "www" / "index.html").read_text() == "ssh-v1"


def test_push_over_http_deploys_and_other_branches_do_not(git_env: GitEnv) -> None:
    repo, sha = git_env.new_app("httppush", "http-v1")
    remote = git_env.http_remote("httppush")
    push = git_env.client.timed_push(repo, remote, "main")
    assert push.returncode == 0, push.text
    (deploy,) = git_env.deploys("httppush")
    assert deploy["status"] == "succeeded" and sha[:12] in deploy["description"]
    assert_streamed_live(push, deploy)
    assert git_env.ctl.get_app("httppush").text.strip() == "http-v1"

    git_env.client.run("checkout", "-qb", "feature", cwd=repo)
    (repo / "www" / "index.html").write_text("feature")
    # Incompressible and over git's 1 MiB http.postBuffer: the pack goes up chunked.
    (repo / "blob.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    feature = git_env.client.commit_all(repo, "feature")
    side = git_env.client.timed_push(repo, remote, "feature")
    assert side.returncode == 0, side.text
    assert "branch feature pushed: not deployed (httppush deploys branch main)" in side.text
    assert git_env.remote_head(remote, "feature") == feature
    assert len(git_env.deploys("httppush")) == 1
    assert git_env.ctl.get_app("httppush").text.strip() == "http-v1"

    refused = git_env.client.run(
        "push", git_env.http_remote("httppush", token="wrong"), "feature", cwd=repo, check=False
    )
    assert refused.returncode != 0 and "Authentication failed" in refused.stderr


def test_a_push_whose_build_fails_is_rejected_and_the_old_release_serves(git_env: GitEnv) -> None:
    repo, good = git_env.new_app("failing", "good")
    remote = git_env.client.ssh_remote("failing")
    assert git_env.client.timed_push(repo, remote, "main").returncode == 0
    with (repo / "Dockerfile").open("a") as dockerfile:
        dockerfile.write("RUN echo about to fail && exit 3\n")
    (repo / "www" / "index.html").write_text("bad")
    git_env.client.commit_all(repo, "broken build")

    push = git_env.client.timed_push(repo, remote, "main")
    assert push.returncode != 0
    assert "remote:        about to fail" in push.text
    assert "push rejected: the deploy failed" in push.text
    assert "[remote rejected] main -> main (pre-receive hook declined)" in push.text
    assert git_env.remote_head(remote) == good
    assert git_env.ctl.get_app("failing").text.strip() == "good"
    assert [d["status"] for d in git_env.deploys("failing")] == ["failed", "succeeded"]


def test_redeploy_builds_the_pushed_commit_again_and_serves_the_new_release(git_env: GitEnv) -> None:
    repo, sha = git_env.new_app("again", "again-v1")
    assert git_env.client.timed_push(repo, git_env.http_remote("again"), "main").returncode == 0
    (repo / "www" / "index.html").write_text("not pushed")  # the redeploy builds what was pushed

    redeploy = git_env.ctl.cli("redeploy", "again")
    assert "-----> Building image" in redeploy.stdout, redeploy.stdout
    latest, pushed = git_env.deploys("again")
    assert latest["status"] == "succeeded" and latest["description"] == f"redeploy {sha[:12]} (main) by api"
    assert pushed["description"].startswith(f"git push {sha[:12]}")
    releases = git_env.ctl.api("GET", "/apps/again/releases").json()
    assert [(r["number"], r["current"]) for r in releases] == [(2, True), (1, False)]
    assert releases[0]["deploy_id"] == latest["id"]
    assert releases[0]["source_digest"] == releases[1]["source_digest"]
    assert git_env.ctl.get_app("again").text.strip() == "again-v1"

    as_json = json.loads(git_env.ctl.cli("redeploy", "again", "--json").stdout)  # the job once it ended
    assert (as_json["status"], as_json["release_number"]) == ("succeeded", 3)


def test_redeploy_of_a_directory_upload_says_how_to_deploy_it_again(git_env: GitEnv) -> None:
    git_env.ctl.cli("apps", "create", "uploaded")
    never = git_env.ctl.cli("redeploy", "uploaded", check=False)
    assert never.returncode != 0 and "uploaded has nothing deployed yet" in never.stderr
    app_dir = write_static_app(git_env.base / "work" / "uploaded", body="uploaded")
    git_env.ctl.cli("deploy", "uploaded", "--path", str(app_dir))
    refused = git_env.ctl.cli("redeploy", "uploaded", check=False)
    assert refused.returncode != 0
    assert (
        "uploaded was deployed from an uploaded directory, whose source Dockyard does not keep: "
        "run dockyard deploy uploaded --path DIR"
    ) in refused.stderr, refused.stderr
    assert len(git_env.deploys("uploaded")) == 1
    assert git_env.ctl.get_app("uploaded").text.strip() == "uploaded"


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ((), "interactive logins are refused"),
        (("bash",), "refused bash"),
        (("git-receive-pack '../../etc.git'",), "refused git-receive-pack '../../etc.git'"),
        (("git-receive-pack 'unknown.git'",), "app 'unknown' does not exist"),
        (("git-upload-pack 'unknown.git'",), "app 'unknown' does not exist"),
        (("git-receive-pack 'sshpush.git'; id",), "refused"),
        (("git-receive-pack 'sshpush.git'\nid",), "refused"),
        (("git-upload-archive 'sshpush.git'",), "refused"),
    ],
)
def test_git_shell_refuses_everything_but_git_on_an_app(
    git_env: GitEnv, command: tuple[str, ...], message: str
) -> None:
    result = git_env.client.ssh(*command)
    assert result.returncode != 0
    assert result.stderr.startswith("dockyard: ") and message in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith("dockyard:")]) == 1
    assert not (git_env.ctl.data_dir / "git" / "repos" / "unknown.git").exists()
    assert git_env.ctl.api("GET", "/apps/unknown").status_code == 404


def test_keys_are_mirrored_into_authorized_keys(git_env: GitEnv, tmp_path: Path) -> None:
    other = GitClient(home=tmp_path / "other", ssh_port=git_env.sshd.port)
    added = subprocess.run(
        [DOCKYARD, "keys", "add", "other", "-"],
        input=other.public_key.read_text(),
        env=git_env.ctl.env,
        capture_output=True,
        text=True,
    )
    assert added.returncode == 0, added.stderr
    keys = json.loads(git_env.ctl.cli("keys", "list", "--json").stdout)
    assert [k["name"] for k in keys] == ["other", "tester"]
    authorized = (git_env.base / "ssh" / "authorized_keys").read_text()
    assert f'git-shell --data-dir {git_env.ctl.data_dir} other",restrict ssh-ed25519' in authorized
    assert "dockyard: app 'unknown' does not exist" in other.ssh("git-upload-pack 'unknown.git'").stderr
    duplicate = git_env.ctl.cli("keys", "add", "again", str(other.public_key), check=False)
    assert duplicate.returncode != 0 and "already added as 'other'" in duplicate.stderr

    git_env.ctl.cli("keys", "remove", "other")
    assert (
        f'--data-dir {git_env.ctl.data_dir} other"'
        not in (git_env.base / "ssh" / "authorized_keys").read_text()
    )
    denied = other.ssh("git-upload-pack 'sshpush.git'")
    assert denied.returncode == 255 and "Permission denied" in denied.stderr


def test_a_second_controller_on_the_host_leaves_the_first_ones_keys(git_env: GitEnv, tmp_path: Path) -> None:
    """Two controllers (and a person) share the git user's authorized_keys: each keeps to its lines."""
    keys = git_env.base / "ssh" / "authorized_keys"
    by_hand = GitClient(home=tmp_path / "by-hand").public_key.read_text().strip()
    with keys.open("a") as handle:
        handle.write(f"# added by hand\n{by_hand}\n")
    (git_env.base / "second").mkdir()
    second = git_controller(git_env.base / "second", DOCKYARD_GIT_AUTHORIZED_KEYS=str(keys))
    newcomer = GitClient(home=tmp_path / "newcomer", ssh_port=git_env.sshd.port)
    second.start()
    try:
        second.cli("keys", "add", "newcomer", str(newcomer.public_key))
        assert "app 'nope' does not exist" in newcomer.ssh("git-upload-pack 'nope.git'").stderr
        second.cli("keys", "remove", "newcomer")
        denied = newcomer.ssh("git-upload-pack 'nope.git'")
        assert denied.returncode == 255 and "Permission denied" in denied.stderr
    finally:
        second.cleanup()

    text = keys.read_text()
    assert f"# added by hand\n{by_hand}\n" in text
    assert f'--data-dir {git_env.ctl.data_dir} tester",restrict' in text
    assert f"dockyard-instance={git_env.ctl.instance}" in text
    # The first controller's key still logs in (to its git-shell), and its own changes keep the others.
    assert "app 'nope' does not exist" in git_env.client.ssh("git-upload-pack 'nope.git'").stderr
    git_env.ctl.cli("keys", "add", "newcomer", str(newcomer.public_key))
    git_env.ctl.cli("keys", "remove", "newcomer")
    assert f"# added by hand\n{by_hand}\n" in keys.read_text()
    assert "app 'nope' does not exist" in git_env.client.ssh("git-upload-pack 'nope.git'").stderr


def test_e2e_controllers_never_write_the_git_users_own_authorized_keys(tmp_path: Path) -> None:
    env = make_controller(tmp_path).env
    assert Path(env["DOCKYARD_GIT_AUTHORIZED_KEYS"]).is_relative_to(tmp_path)


def test_auto_create_makes_the_app_on_first_push(busybox_image: str) -> None:
    require_git_testbed()
    with traversable_dir("dockyard-git-auto-") as base:
        ctl = git_controller(base, DOCKYARD_GIT_AUTO_CREATE="true")
        ctl.start()
        try:
            client = GitClient(home=base / "client")
            repo = write_static_app(base / "work", body="auto")
            client.commit_all(repo, "auto")
            started = time.monotonic()
            remote = f"http://git:{TOKEN}@127.0.0.1:{ctl.api_port}/git/brand-new.git"
            push = client.timed_push(repo, remote, "main")
            assert push.returncode == 0, push.text
            print(f"auto-created and deployed in {time.monotonic() - started:.2f}s")
            assert ctl.get_app("brand-new").text.strip() == "auto"
            info = json.loads(ctl.cli("apps", "info", "brand-new", "--json").stdout)
            assert info["git"]["http_remote"] == f"http://127.0.0.1:{ctl.api_port}/git/brand-new.git"
            ctl.cli("apps", "destroy", "brand-new", "--force")
            assert not (ctl.data_dir / "git" / "repos" / "brand-new.git").exists()
        finally:
            ctl.cleanup()


def test_pushes_have_the_rights_of_the_keys_owner_over_ssh_and_http(git_env: GitEnv) -> None:
    """A viewer's push is refused with one line and no build; a developer pushes only its app."""
    ctl = git_env.ctl
    repo, _ = git_env.new_app("rolesown", "own-v1")
    ctl.cli("apps", "create", "rolesother")
    ctl.cli("users", "add", "vera", "--role", "viewer")
    ctl.cli("users", "add", "dave", "--role", "developer", "--app", "rolesown")
    viewer = GitClient(home=git_env.base / "vera", ssh_port=git_env.sshd.port)
    developer = GitClient(home=git_env.base / "dave", ssh_port=git_env.sshd.port)
    ctl.cli("keys", "add", "vera-laptop", str(viewer.public_key), "--user", "vera")
    ctl.cli("keys", "add", "dave-laptop", str(developer.public_key), "--user", "dave")
    assert "vera-laptop              vera" in ctl.cli("keys", "list").stdout

    refused = viewer.run("push", viewer.ssh_remote("rolesown"), "main", cwd=repo, check=False)
    assert refused.returncode != 0
    assert "vera (viewer) may not push to 'rolesown'" in refused.stderr, refused.stderr
    elsewhere = developer.run("push", developer.ssh_remote("rolesother"), "main", cwd=repo, check=False)
    assert elsewhere.returncode != 0 and "may not push to 'rolesother'" in elsewhere.stderr
    assert git_env.deploys("rolesown") == [] and git_env.deploys("rolesother") == []

    pushed = developer.run("push", developer.ssh_remote("rolesown"), "main", cwd=repo, check=False)
    assert pushed.returncode == 0, pushed.stderr
    assert ctl.get_app("rolesown").text.strip() == "own-v1"

    vera_token = ctl.cli("tokens", "create", "vera-git", "--user", "vera").stdout.strip()
    http_remote = git_env.http_remote("rolesother", vera_token)
    over_http = viewer.run("push", http_remote, "main", cwd=repo, check=False)
    assert over_http.returncode != 0 and "403" in over_http.stderr, over_http.stderr
    assert git_env.deploys("rolesother") == []

    # The audit log names the key's owner (and the token over HTTP), not the git hook.
    events = json.loads(ctl.cli("audit", "--json").stdout)
    rows = {(e["actor"], e["action"], e["app"], e["outcome"]) for e in events}
    assert ("vera", "open_repo", "rolesown", "denied") in rows
    assert ("dave", "open_repo", "rolesother", "denied") in rows
    assert ("dave", "deploy_push", "rolesown", "ok") in rows
    assert ("vera-git", "smart_http", "rolesother", "denied") in rows
    # (The module's other tests call the hook for keys that were never added: those stay `git-hook`.)
    ours = [e for e in events if e["app"] in ("rolesown", "rolesother")]
    assert [(e["action"], e["app"], e["detail"]) for e in ours if e["actor"] == "git-hook"] == []
    (deploy,) = [e for e in ours if e["action"] == "deploy_push"]
    assert deploy["detail"].startswith("SSH key dave-laptop: ")
