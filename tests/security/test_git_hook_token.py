"""The git hook token can no longer deploy what was not pushed (issue 14.2): the controller reads the
pushed commit from the app's own repo, and the pusher it records is the one the SSH key or the API
token authenticated, never what the request says. Real controller, git, sshd and Docker.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import write_static_app
from tests.e2e.conftest import TOKEN, Controller
from tests.e2e.git_support import GitClient
from tests.e2e.test_git_push import GitEnv, git_env  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration
B = "b" * 40
ZERO = "0" * 40


@dataclass
class HookEnv:
    """The git e2e tests' controller, sshd and client, and the hook token they use."""

    git: GitEnv

    @property
    def ctl(self) -> Controller:
        return self.git.ctl

    @property
    def client(self) -> GitClient:
        return self.git.client

    @property
    def base(self) -> Path:
        return self.git.base

    def hook(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        token = json.loads((self.ctl.data_dir / "git" / "hook.json").read_text())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.request(method, self.ctl.url + path, headers=headers, timeout=60, **kwargs)

    def deploys(self, app: str) -> list[dict[str, Any]]:
        return self.git.deploys(app)


@pytest.fixture
def hook_env(git_env: GitEnv) -> HookEnv:  # noqa: F811
    return HookEnv(git_env)


def pushed_app(env: HookEnv, app: str) -> tuple[Path, str]:
    """An app with one deployed push over HTTP; returns the work tree and the deployed commit."""
    env.ctl.cli("apps", "create", app)
    repo = write_static_app(env.base / "work" / app, body=f"{app}-v1")
    sha = env.client.commit_all(repo, "v1")
    push = env.client.timed_push(
        repo, f"http://mallory:{TOKEN}@127.0.0.1:{env.ctl.api_port}/git/{app}.git", "main"
    )
    assert push.returncode == 0, push.text
    return repo, sha


def test_the_hook_token_alone_deploys_nothing(hook_env: HookEnv) -> None:
    app = "forged"
    _, head = pushed_app(hook_env, app)
    before = hook_env.deploys(app)
    # The old way: any archive as the body, commit and pusher made up in the query.
    forged = hook_env.hook(
        "POST",
        f"/api/v1/git/apps/{app}/deploys",
        params={"old": ZERO, "new": B, "ref": "refs/heads/main", "pusher": "anyone"},
        content=b"not a tree",
    )
    assert forged.status_code == 422, forged.text
    # No ticket: no authenticated git session announced this push.
    for ticket in (None, "made-up-ticket"):
        answer = hook_env.hook(
            "POST",
            f"/api/v1/git/apps/{app}/deploys",
            json={"old": head, "new": head, "ref": "refs/heads/main", "ticket": ticket},
        )
        assert answer.status_code == 403, answer.text
    assert hook_env.deploys(app) == before
    assert hook_env.ctl.get_app(app).text.strip() == f"{app}-v1"


def test_a_ticket_deploys_only_a_commit_of_the_repo_from_where_the_ref_is(hook_env: HookEnv) -> None:
    app = "ticketed"
    _, head = pushed_app(hook_env, app)
    before = hook_env.deploys(app)

    def ticket() -> str:
        answer = hook_env.hook(
            "POST", f"/api/v1/git/apps/{app}/access", json={"service": "git-receive-pack", "key": "tester"}
        )
        assert answer.status_code == 200, answer.text
        value: str = answer.json()["ticket"]
        return value

    cases = [
        ({"old": head, "new": B}, "is not a commit"),  # made up
        ({"old": ZERO, "new": head}, "not the push in progress"),  # the ref is not where it says
        ({"old": head, "new": head, "quarantine": "../../../tmp"}, "not a push in progress"),
        ({"old": head, "new": head, "quarantine": "tmp_objdir-incoming-nothere"}, "not a push in progress"),
    ]
    for update, message in cases:
        answer = hook_env.hook(
            "POST",
            f"/api/v1/git/apps/{app}/deploys",
            json={"ref": "refs/heads/main", "ticket": ticket(), **update},
        )
        assert answer.status_code == 400 and message in answer.text, (update, answer.text)
    # A key that may not push gets no ticket; a ticket of another app does not fit this one.
    unknown = hook_env.hook(
        "POST", f"/api/v1/git/apps/{app}/access", json={"service": "git-receive-pack", "key": "nobody"}
    )
    assert unknown.status_code == 403
    other = hook_env.hook(
        "POST", "/api/v1/git/apps/forged/access", json={"service": "git-receive-pack", "key": "tester"}
    ).json()["ticket"]
    answer = hook_env.hook(
        "POST",
        f"/api/v1/git/apps/{app}/deploys",
        json={"old": head, "new": head, "ref": "refs/heads/main", "ticket": other},
    )
    assert answer.status_code == 403
    assert hook_env.deploys(app) == before


def test_the_pusher_recorded_is_the_authenticated_one(hook_env: HookEnv) -> None:
    """Over HTTP the Basic user name is anyone's to choose: the token is what authenticated."""
    app = "whopushed"
    repo, sha = pushed_app(hook_env, app)
    (deploy,) = hook_env.deploys(app)
    assert deploy["description"] == f"git push {sha[:12]} (main) by bootstrap-admin"
    (repo / "www" / "index.html").write_text("v2")
    second = hook_env.client.commit_all(repo, "v2")
    push = hook_env.client.timed_push(repo, hook_env.client.ssh_remote(app), "main")
    assert push.returncode == 0, push.text
    newest = hook_env.deploys(app)[0]
    assert newest["description"] == f"git push {second[:12]} (main) by tester"
    assert hook_env.ctl.get_app(app).text.strip() == "v2"
    # The audit log names the same pushers for the hook's calls, never the hook token.
    events = hook_env.ctl.api("GET", "/audit", params={"app": app}).json()
    deploys = [(e["actor"], e["outcome"]) for e in events if e["action"] == "deploy_push"]
    assert deploys == [("tester", "ok"), ("bootstrap-admin", "ok")], events
    assert "git-hook" not in {e["actor"] for e in events}, events
    pushes = [e for e in events if e["action"] == "smart_http"]
    assert pushes and {e["actor"] for e in pushes} == {"bootstrap-admin"}, events
