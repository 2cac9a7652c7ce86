"""Push webhooks end to end: signed deliveries from each provider deploy exactly the pushed commit
from a repository served on loopback; every bad delivery answers its status and queues nothing.
"""

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import write_static_app
from tests.e2e.conftest import TOKEN, Controller, free_port
from tests.e2e.git_support import (
    GIT_USER,
    GitClient,
    SshServer,
    git_controller,
    require_git_testbed,
    traversable_dir,
)
from tests.e2e.webhook_deliveries import (
    PROVIDERS,
    delete_payload,
    encode,
    push_payload,
    signed_headers,
    template,
    unsigned,
)

pytestmark = pytest.mark.integration


@dataclass
class Upstream:
    """A source repository with two commits on main, served by `git daemon` on loopback."""

    path: Path
    first: str
    second: str
    port: int

    @property
    def git_url(self) -> str:
        return f"git://127.0.0.1:{self.port}/upstream.git"

    @property
    def file_url(self) -> str:
        return f"file://{self.path}"


@dataclass
class HookEnv:
    ctl: Controller
    upstream: Upstream
    http_url: str  # the same repo, behind the controller's own smart HTTP (token auth)

    def post(self, provider: str, app: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(f"{self.ctl.url}/hooks/{provider}/{app}", content=body, headers=headers, timeout=30)

    def secret(self, app: str) -> str:
        secret: str = json.loads(self.ctl.cli("apps", "info", app, "--json").stdout)["git"]["webhook_secret"]
        return secret

    def state(self, app: str) -> tuple[list[str], list[str]]:
        """The app's deploys and recorded deliveries: what a bad delivery must not change."""
        deploys = [d["id"] for d in self.ctl.api("GET", f"/apps/{app}/deploys").json()]
        deliveries = [
            d["delivery_id"] for d in self.ctl.api("GET", f"/apps/{app}/source").json()["deliveries"]
        ]
        return deploys, deliveries

    def wait_deployed(self, app: str, commit: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            deploys = self.ctl.api("GET", f"/apps/{app}/deploys").json()
            done = [d for d in deploys if commit[:12] in d["description"] and d["status"] != "queued"]
            if done and done[0]["status"] != "running":
                return dict(done[0])
            time.sleep(0.2)
        raise AssertionError(
            f"no deploy of {commit[:12]} finished: {self.ctl.api('GET', f'/apps/{app}/source').json()}"
        )


def serve_with_git_daemon(base: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            f"--base-path={base}",
            "--listen=127.0.0.1",
            f"--port={port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return daemon, port
        except OSError:
            time.sleep(0.05)
    daemon.kill()
    raise RuntimeError("git daemon did not listen")


@pytest.fixture(scope="module")
def hook_env(busybox_image: str) -> Iterator[HookEnv]:
    require_git_testbed()
    with traversable_dir("dockyard-hooks-e2e-") as base:
        client = GitClient(home=base / "client")
        work = write_static_app(base / "work", body="wh-first")
        first = client.commit_all(work, "first")
        (work / "www" / "index.html").write_text("wh-second")
        second = client.commit_all(work, "second")
        client.run("clone", "-q", "--bare", str(work), str(base / "served" / "upstream.git"), cwd=base)
        daemon, port = serve_with_git_daemon(base / "served")
        ctl = git_controller(
            base, DOCKYARD_GIT_ALLOW_LOCAL_SOURCES="true", DOCKYARD_GIT_ALLOW_PRIVATE_SOURCES="true"
        )
        ctl.start()
        try:
            # The same repository behind Dockyard's own smart HTTP, for an https-with-token source:
            # app `upstream` deploys branch `production`, so pushing main there deploys nothing.
            ctl.cli("apps", "create", "upstream")
            ctl.cli("apps", "source", "upstream", "--branch", "production")
            client.run(
                "push",
                "-q",
                f"http://git:{TOKEN}@127.0.0.1:{ctl.api_port}/git/upstream.git",
                "main",
                cwd=work,
            )
            upstream = Upstream(path=base / "served" / "upstream.git", first=first, second=second, port=port)
            yield HookEnv(
                ctl=ctl, upstream=upstream, http_url=f"http://127.0.0.1:{ctl.api_port}/git/upstream.git"
            )
        finally:
            daemon.terminate()
            daemon.wait(10)
            ctl.cleanup()


def source_args(env: HookEnv, provider: str) -> list[str]:
    """A different loopback transport per provider: git://, file://, and http with a token."""
    if provider == "bitbucket":
        return ["--repo", env.http_url, "--token", TOKEN]
    if provider == "gitlab":
        return ["--repo", env.upstream.file_url]
    return ["--repo", env.upstream.git_url]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_signed_push_deploys_exactly_the_pushed_commit(hook_env: HookEnv, provider: str) -> None:
    app = f"wh-{provider}"
    hook_env.ctl.cli("apps", "create", app)
    hook_env.ctl.cli("apps", "source", app, *source_args(hook_env, provider), "--branch", "main")
    secret = hook_env.secret(app)
    # The branch's head is `second`; the push being reported is of `first`: that is what deploys.
    commit = hook_env.upstream.first
    body = encode(
        provider, push_payload(provider, branch="main", commit=commit, clone_url=hook_env.upstream.git_url)
    )
    headers = signed_headers(provider, body, secret=secret)

    answer = hook_env.post(provider, app, body, headers)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "queued" and answer.json()["commit"] == commit

    deploy = hook_env.wait_deployed(app, commit)
    assert deploy["status"] == "succeeded", hook_env.ctl.cli("deploys", "show", deploy["id"]).stdout
    assert deploy["description"] == f"{provider} push {commit[:12]} (main)"
    assert hook_env.ctl.get_app(app).text.strip() == "wh-first"

    before = hook_env.state(app)
    replay = hook_env.post(provider, app, body, headers)
    assert replay.status_code == 202 and "already received" in replay.json()["reason"]
    assert hook_env.state(app) == before


def test_bad_deliveries_answer_their_status_and_queue_nothing(hook_env: HookEnv) -> None:
    app = "wh-bad"
    ctl = hook_env.ctl
    ctl.cli("apps", "create", app)
    secret = hook_env.secret(app)
    unconfigured = push_payload("github", branch="main", commit=hook_env.upstream.first, clone_url="x")
    body = encode("github", unconfigured)
    answer = hook_env.post("github", app, body, signed_headers("github", body, secret=secret))
    assert answer.status_code == 409 and "no source repository" in answer.text

    ctl.cli("apps", "source", app, "--repo", hook_env.upstream.git_url)
    before = hook_env.state(app)

    def check(provider: str, body: bytes, headers: dict[str, str], status: int, text: str = "") -> None:
        answer = hook_env.post(provider, app, body, headers)
        assert answer.status_code == status, (provider, answer.status_code, answer.text)
        assert text in answer.text
        assert hook_env.state(app) == before

    for provider in PROVIDERS:
        payload = push_payload(provider, branch="main", commit=hook_env.upstream.second, clone_url="x")
        body = encode(provider, payload)
        check(provider, body, signed_headers(provider, body, secret="wrong-secret"), 401)
        check(provider, body, unsigned(provider, signed_headers(provider, body, secret=secret)), 401)
        tampered = body.replace(b"main", b"mainx", 1)
        if provider != "gitlab":  # GitLab's token does not cover the body
            check(provider, tampered, signed_headers(provider, body, secret=secret), 401)
        malformed = body[: len(body) // 2]
        check(provider, malformed, signed_headers(provider, malformed, secret=secret), 400, "not valid JSON")
        other = encode(
            provider, push_payload(provider, branch="develop", commit=hook_env.upstream.second, clone_url="x")
        )
        check(
            provider, other, signed_headers(provider, other, secret=secret), 202, "only pushes to branch main"
        )
        tag = encode(
            provider,
            push_payload(provider, branch="v1.0", commit=hook_env.upstream.second, clone_url="x", tag=True),
        )
        check(provider, tag, signed_headers(provider, tag, secret=secret), 202, "tag")
        deleted, event = delete_payload(provider, branch="main")
        deleted_body = encode(provider, deleted)
        reason = "not a push" if provider == "gitea" else "deleted"
        check(
            provider,
            deleted_body,
            signed_headers(provider, deleted_body, secret=secret, event=event),
            202,
            reason,
        )

    ping = encode("github", template("github/ping.json"))
    check("github", ping, signed_headers("github", ping, secret=secret, event="ping"), 200, "pong")
    issues = encode("github", {"action": "opened"})
    check(
        "github", issues, signed_headers("github", issues, secret=secret, event="issues"), 202, "not a push"
    )

    huge = b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'
    check("github", huge, signed_headers("github", huge, secret=secret), 413)
    good = encode(
        "github", push_payload("github", branch="main", commit=hook_env.upstream.second, clone_url="x")
    )
    check("gitlab-ee", good, signed_headers("github", good, secret=secret), 404, "unknown webhook provider")
    answer = hook_env.post("github", "no-such-app", good, signed_headers("github", good, secret=secret))
    assert answer.status_code == 401  # the same as a wrong secret: which apps exist stays hidden


def test_redeploy_of_a_source_repository_app_builds_its_branch_head(hook_env: HookEnv) -> None:
    app = "wh-redeploy"
    hook_env.ctl.cli("apps", "create", app)
    hook_env.ctl.cli("apps", "source", app, "--repo", hook_env.upstream.git_url)
    redeploy = hook_env.ctl.cli("redeploy", app)
    assert f"-----> main is at {hook_env.upstream.second[:12]}" in redeploy.stdout, redeploy.stdout
    (deploy,) = hook_env.ctl.api("GET", f"/apps/{app}/deploys").json()
    assert deploy["status"] == "succeeded"
    assert deploy["description"] == "redeploy of the head of main (source repository) by api"
    assert hook_env.ctl.get_app(app).text.strip() == "wh-second"


def test_a_burst_for_one_app_coalesces_into_few_builds(hook_env: HookEnv) -> None:
    app = "wh-burst"
    hook_env.ctl.cli("apps", "create", app)
    hook_env.ctl.cli("apps", "source", app, "--repo", hook_env.upstream.git_url)
    secret = hook_env.secret(app)
    # A push, then the next one delivered 19 times (new ids): going back and forth between the two
    # would be a replay of an older commit, which is refused.
    commits = [hook_env.upstream.first] + [hook_env.upstream.second] * 19
    for commit in commits:
        body = encode("github", push_payload("github", branch="main", commit=commit, clone_url="x"))
        answer = hook_env.post("github", app, body, signed_headers("github", body, secret=secret))
        # On a slow machine the second commit can be live before its last deliveries arrive:
        # those are refused as replays of what runs. Either way no further build.
        already_live = answer.status_code == 409 and "already runs" in answer.text
        queued = answer.status_code == 202 and answer.json()["status"] == "queued"
        assert queued or already_live, answer.text
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        deliveries = hook_env.ctl.api("GET", f"/apps/{app}/source").json()["deliveries"]
        deploys = hook_env.ctl.api("GET", f"/apps/{app}/deploys").json()
        if all(d["status"] != "pending" for d in deliveries) and all(
            d["status"] not in ("queued", "running") for d in deploys
        ):
            break
        time.sleep(0.2)
    built = [d for d in deploys if d["status"] == "succeeded"]
    print(f"20 deliveries -> {len(deploys)} deploys ({len(built)} built): {[d['status'] for d in deploys]}")
    assert 1 <= len(built) <= 2
    assert hook_env.ctl.get_app(app).text.strip() == "wh-second"  # the newest delivery's commit


def test_apps_info_shows_remotes_webhooks_and_secret(hook_env: HookEnv) -> None:
    ctl = hook_env.ctl
    ctl.cli("apps", "create", "wh-info")
    ctl.cli("apps", "source", "wh-info", "--repo", hook_env.upstream.git_url, "--branch", "release")
    out = ctl.cli("apps", "info", "wh-info").stdout
    secret = hook_env.secret("wh-info")
    assert len(secret) == 64
    assert "branch:     release" in out
    assert "git remote: ssh://dockyard@127.0.0.1/wh-info.git" in out
    assert f"git remote: http://127.0.0.1:{ctl.api_port}/git/wh-info.git" in out
    for provider in PROVIDERS:
        assert f"webhook:    {ctl.url}/hooks/{provider}/wh-info" in out
    assert f"webhook secret: {secret}" in out
    assert f"source:     {hook_env.upstream.git_url}" in out

    ctl.cli(
        "apps", "source", "wh-info", "--repo", f"http://oauth2:{TOKEN}@127.0.0.1:{ctl.api_port}/git/x.git"
    )
    with_token = ctl.cli("apps", "info", "wh-info").stdout
    assert "(token set)" in with_token and TOKEN not in with_token
    assert TOKEN not in ctl.cli("apps", "info", "wh-info", "--json").stdout


def test_an_ssh_source_is_fetched_with_its_generated_deploy_key(hook_env: HookEnv) -> None:
    """A private sshd plays the git host: it lets in only the app's deploy key (no forced command)."""
    ctl = hook_env.ctl
    ctl.cli("apps", "create", "wh-ssh")
    refused = ctl.cli("apps", "source", "wh-ssh", "--repo", "ext::sh -c id", check=False)
    assert refused.returncode != 0 and "HTTP 400" in refused.stderr
    base = ctl.data_dir.parent
    url = f"ssh://{GIT_USER}@127.0.0.1:{{port}}{hook_env.upstream.path}"
    host = SshServer(directory=base / "githost", authorized_keys=base / "githost-keys")
    out = ctl.cli("apps", "source", "wh-ssh", "--repo", url.format(port=host.port)).stdout
    deploy_key = next(line for line in out.splitlines() if line.startswith("deploy key: "))[
        len("deploy key: ") :
    ]
    assert deploy_key.startswith("ssh-ed25519 AAAA") and deploy_key.endswith("dockyard-deploy-key-wh-ssh")
    host.authorized_keys.write_text(deploy_key + "\n")
    subprocess.run(["chown", "-R", GIT_USER, str(hook_env.upstream.path)], check=True)
    host.start()
    try:
        commit = hook_env.upstream.second
        body = encode("github", push_payload("github", branch="main", commit=commit, clone_url="x"))
        answer = hook_env.post(
            "github", "wh-ssh", body, signed_headers("github", body, secret=hook_env.secret("wh-ssh"))
        )
        assert answer.status_code == 202, answer.text
        deploy = hook_env.wait_deployed("wh-ssh", commit)
        assert deploy["status"] == "succeeded"
        assert ctl.get_app("wh-ssh").text.strip() == "wh-second"
        assert "Accepted publickey" in host.log()
    finally:
        host.stop()
        subprocess.run(["chown", "-R", "root:root", str(hook_env.upstream.path)], check=True)
