"""The git-side services on a real SQLite store, with fake repos, mirrors and deploy pipeline."""

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from controller.adapters.secrets import Cipher
from controller.adapters.store import SqlStore, upgrade_database
from controller.domain.errors import Conflict, InvalidInput, NotFound, RuntimeUnavailable
from controller.domain.git_records import DeliveryStatus, SshKey, WebhookDelivery
from controller.domain.git_refs import ZERO_SHA, GitService, RefUpdate
from controller.domain.models import Deploy, DeployKind, DeployStatus, Release
from controller.domain.webhooks import WebhookUnauthorized
from controller.services.git_ports import FetchAuth
from controller.services.git_push import GitPushService, Pusher, PushForbidden
from controller.services.git_sources import GitSettings, GitSourceService
from controller.services.redeploy import RedeployService
from controller.services.webhooks import WebhookOutcome, WebhookService

A, B, C = "a" * 40, "b" * 40, "c" * 40


class FakeRepos:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.branches: dict[str, str] = {}
        self.heads: dict[tuple[str, str], str] = {}  # (app, branch) -> commit pushed there

    def path(self, app: str) -> Path:
        return self.root / f"{app}.git"

    def exists(self, app: str) -> bool:
        return app in self.branches

    def ensure(self, app: str, *, branch: str) -> Path:
        self.branches[app] = branch
        return self.path(app)

    def delete(self, app: str) -> None:
        self.branches.pop(app, None)

    def archive_pushed(self, app: str, *, update: RefUpdate, quarantine: str | None) -> bytes:
        """The 'tree' of a pushed commit is its id (see `unpack_with_dockerfile`)."""
        return update.new.encode()

    def archive_branch(self, app: str, branch: str) -> tuple[str, bytes] | None:
        commit = self.heads.get((app, branch))
        return None if commit is None else (commit, commit.encode())


@dataclass
class FakeMirrors:
    fetched: list[tuple[str, str, str, FetchAuth]] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)

    def fetch(self, app: str, *, url: str, branch: str, commit: str, auth: FetchAuth) -> None:
        from controller.domain.git_refs import SourceUnavailable

        if commit in self.missing:
            raise SourceUnavailable(f"{url} has no commit {commit}")
        self.fetched.append((app, url, commit, auth))

    history: list[str] = field(default_factory=list)  # commits of the branch, oldest first

    def fetch_head(self, app: str, *, url: str, branch: str, auth: FetchAuth) -> str:
        head = self.history[-1]
        self.fetched.append((app, url, head, auth))
        return head

    def archive(self, app: str, commit: str) -> bytes:
        return commit.encode()

    def is_ancestor(self, app: str, older: str, newer: str) -> bool | None:
        if older not in self.history or newer not in self.history:
            return None
        return self.history.index(older) <= self.history.index(newer)

    def delete(self, app: str) -> None:
        pass


@dataclass
class FakeDeploys:
    """Records builds; `unpack` runs like DeployService runs it, into an empty dir."""

    store: SqlStore
    workdir: Path
    builds: list[tuple[str, str, str]] = field(default_factory=list)
    docker_down: bool = False

    def request_build(self, app: str, *, unpack: Callable[[Path], str], description: str = "") -> Deploy:
        if self.docker_down:
            raise RuntimeUnavailable("Docker is not reachable")
        dest = self.workdir / f"ctx{len(self.builds)}"
        dest.mkdir()
        return self._record(app, unpack(dest), description, {})

    def request_fetched_build(
        self,
        app: str,
        *,
        source: dict[str, Any],
        description: str,
        delivery: WebhookDelivery | None = None,
    ) -> Deploy:
        """Records the job: its commit stands in for the digest (the job fetches when it runs)."""
        if self.docker_down:
            raise RuntimeUnavailable("Docker is not reachable")
        return self._record(app, str(source.get("commit", "head")), description, {"source": source}, delivery)

    def _record(
        self,
        app: str,
        digest: str,
        description: str,
        params: dict[str, Any],
        delivery: WebhookDelivery | None = None,
    ) -> Deploy:
        deploy = Deploy(
            id=f"d{len(self.builds)}",
            app=app,
            kind=DeployKind.BUILD,
            status=DeployStatus.QUEUED,
            created_at=datetime.now(UTC),
            description=description,
        )
        recorded = [replace(delivery, deploy_id=deploy.id)] if delivery is not None else []
        (error,) = self.store.create_deploys([(deploy, params)], deliveries=recorded)
        if error is not None:
            raise error
        self.builds.append((app, digest, description))
        return deploy


def unpack_with_dockerfile(data: bytes, dest: Path) -> str:
    """Stands in for tar extraction: the 'tree' is the commit id; `no-docker...` has no Dockerfile."""
    if not data.startswith(b"c"):
        (dest / "Dockerfile").write_text("FROM scratch\n")
    return hashlib.sha256(data).hexdigest()


@dataclass
class World:
    store: SqlStore
    sources: GitSourceService
    push: GitPushService
    webhooks: WebhookService
    deploys: FakeDeploys
    mirrors: FakeMirrors
    repos: FakeRepos
    redeploy: RedeployService


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade_database(url)
    store = SqlStore(url, Cipher.from_key_file(tmp_path / "secret.key"))
    repos = FakeRepos(tmp_path / "repos")
    mirrors = FakeMirrors()
    sources = GitSourceService(
        store=store,
        repos=repos,
        mirrors=mirrors,
        generate_key=lambda comment: ("PRIVATE", f"ssh-ed25519 AAAA {comment}"),
        settings=GitSettings(
            git_user="dockyard",
            ssh_host="vps",
            ssh_port=22,
            public_url="https://vps",
            allow_local_sources=True,
        ),
    )
    deploys = FakeDeploys(store=store, workdir=tmp_path)

    def create_app(name: str) -> Any:
        app = store.create_app(name)
        sources.post_create(name)
        return app

    push = GitPushService(
        store=store,
        sources=sources,
        repos=repos,
        deploys=deploys,  # type: ignore[arg-type]
        create_app=create_app,
        unpack=unpack_with_dockerfile,
        public_urls=lambda app, domains: [f"http://{d}" for d in domains],
        auto_create=False,
    )
    webhooks = WebhookService(
        store=store,
        sources=sources,
        mirrors=mirrors,
        deploys=deploys,  # type: ignore[arg-type]
        unpack=unpack_with_dockerfile,
    )
    redeploy = RedeployService(
        store=store,
        sources=sources,
        repos=repos,
        deploys=deploys,  # type: ignore[arg-type]
        unpack=unpack_with_dockerfile,
    )
    yield World(store, sources, push, webhooks, deploys, mirrors, repos, redeploy)
    store.close()


def github_delivery(world: World, app: str, commit: str, *, delivery: str, branch: str = "main") -> Any:
    body = json.dumps({"ref": f"refs/heads/{branch}", "after": commit}).encode()
    secret = world.sources.source(app).webhook_secret
    headers = {
        "x-github-event": "push",
        "x-github-delivery": delivery,
        "x-hub-signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }
    return world.webhooks.receive("github", app, headers, body)


def with_source(world: World, app: str = "web") -> None:
    world.store.create_app(app)
    world.sources.post_create(app)
    world.sources.set_source(app, repo_url="https://x:tok@git.example.com/o/r.git")


def test_source_settings_and_deploy_key(world: World) -> None:
    world.store.create_app("web")
    world.sources.post_create("web")
    assert world.repos.branches == {"web": "main"}
    first_secret = world.sources.source("web").webhook_secret
    assert len(first_secret) == 64
    source = world.sources.set_source("web", repo_url="git@github.com:o/r.git", branch="prod")
    assert (
        source.deploy_key == "PRIVATE"
        and source.deploy_key_public == "ssh-ed25519 AAAA dockyard-deploy-key-web"
    )
    assert world.repos.branches["web"] == "prod"
    with pytest.raises(InvalidInput):
        world.sources.set_source("web", token="t")  # a token needs an https URL
    source = world.sources.set_source(
        "web", repo_url="https://oauth2:t0k@gitlab.com/o/r.git", new_webhook_secret=True
    )
    assert (source.repo_url, source.repo_username, source.repo_token) == (
        "https://gitlab.com/o/r.git",
        "oauth2",
        "t0k",
    )
    assert source.webhook_secret != first_secret
    info = world.sources.info("web")
    assert info.ssh_remote == "ssh://dockyard@vps/web.git" and info.http_remote == "https://vps/git/web.git"
    assert info.webhook_urls["gitea"] == "https://vps/hooks/gitea/web"
    world.sources.post_delete("web")
    assert "web" not in world.repos.branches


def test_push_plan_deploys_only_the_deploy_branch(world: World) -> None:
    world.store.create_app("web")
    plan = world.push.plan(
        "web",
        [
            RefUpdate(ZERO_SHA, A, "refs/heads/feature"),
            RefUpdate(A, B, "refs/heads/main"),
            RefUpdate(ZERO_SHA, A, "refs/tags/v1"),
        ],
    )
    assert plan.deploy == RefUpdate(A, B, "refs/heads/main")
    assert plan.messages == (
        "branch feature pushed: not deployed (web deploys branch main)",
        "refs/tags/v1 pushed: not deployed (web deploys branch main)",
    )
    deleted = world.push.plan("web", [RefUpdate(A, ZERO_SHA, "refs/heads/main")])
    assert deleted.deploy is None and "keeps running" in deleted.messages[0]


HTTP_PUSHER = Pusher(actor="dave-ci", via="smart HTTP, token dave-ci of user dave")


def test_deploy_push(world: World) -> None:
    world.store.create_app("web")
    ticket = world.push.http_push_ticket("web", HTTP_PUSHER)
    pushed = world.push.deploy_push(
        "web", update=RefUpdate(A, B, "refs/heads/main"), ticket=ticket, quarantine=None
    )
    assert pushed.pusher == HTTP_PUSHER
    assert pushed.deploy.description == f"git push {B[:12]} (main) by dave-ci"
    with pytest.raises(InvalidInput, match="not the deploy branch"):
        world.push.deploy_push(
            "web",
            update=RefUpdate(A, B, "refs/heads/dev"),
            ticket=world.push.http_push_ticket("web", HTTP_PUSHER),
            quarantine=None,
        )
    with pytest.raises(InvalidInput, match="no Dockerfile"):
        world.push.deploy_push(
            "web",
            update=RefUpdate(A, C, "refs/heads/main"),
            ticket=world.push.http_push_ticket("web", HTTP_PUSHER),
            quarantine=None,
        )
    assert len(world.deploys.builds) == 1


def _key(name: str, owner: str | None) -> SshKey:
    digest = hashlib.sha256(name.encode()).hexdigest()
    return SshKey(
        name=name,
        key_type="ssh-ed25519",
        key_data=f"AAAA{digest}",
        fingerprint=f"SHA256:{digest}",
        created_at=datetime.now(UTC),
        owner=owner,
    )


def test_a_push_over_ssh_is_its_key_owners(world: World) -> None:
    """The pusher of an SSH push is the key's owner (the key itself for a key without one)."""
    world.store.create_app("web")
    world.store.add_ssh_key(_key("alice-laptop", "alice"))
    world.store.add_ssh_key(_key("ci", None))
    assert world.push.ssh_pusher("alice-laptop") == Pusher(actor="alice", via="SSH key alice-laptop")
    assert world.push.ssh_pusher("ci") == Pusher(actor="ci", via="SSH key ci")

    ticket = world.push.ssh_push_ticket("web", "alice-laptop")
    # The plan (and the audit of the hook's calls) may look at who pushed without using the ticket up.
    assert world.push.pusher_of("web", ticket) == Pusher(actor="alice", via="SSH key alice-laptop")
    assert world.push.pusher_of("other", ticket) is None
    assert world.push.pusher_of("web", None) is None
    pushed = world.push.deploy_push(
        "web", update=RefUpdate(A, B, "refs/heads/main"), ticket=ticket, quarantine=None
    )
    assert pushed.pusher.actor == "alice"
    assert pushed.deploy.description == f"git push {B[:12]} (main) by alice"
    assert world.push.pusher_of("web", ticket) is None  # used up
    with pytest.raises(PushForbidden):
        world.push.ssh_push_ticket("web", "gone")


def test_open_repo_refuses_unknown_apps_unless_auto_create(world: World) -> None:
    with pytest.raises(NotFound, match="create it with `dockyard apps create ghost`"):
        world.push.open_repo("ghost", service=GitService.RECEIVE_PACK)
    with pytest.raises(InvalidInput):
        world.push.open_repo("../etc", service=GitService.UPLOAD_PACK)
    world.push._auto_create = True
    with pytest.raises(NotFound):
        world.push.open_repo("ghost", service=GitService.UPLOAD_PACK)  # a fetch never creates
    assert world.push.open_repo("ghost", service=GitService.RECEIVE_PACK).name == "ghost.git"
    assert world.store.get_app("ghost").name == "ghost" and world.repos.exists("ghost")


def test_intake_records_only_accepted_pushes(world: World) -> None:
    world.store.create_app("web")
    with pytest.raises(Conflict, match="no source repository"):
        github_delivery(world, "web", A, delivery="1")
    world.sources.set_source("web", repo_url="https://git.example.com/o/r.git")
    ignored = github_delivery(world, "web", A, delivery="2", branch="dev")
    assert ignored.outcome is WebhookOutcome.IGNORED and ignored.body["status"] == "ignored"
    assert world.store.list_webhook_deliveries("web") == []
    queued = github_delivery(world, "web", A, delivery="3")
    assert queued.outcome is WebhookOutcome.QUEUED and queued.body["status"] == "queued"
    replay = github_delivery(world, "web", B, delivery="3")
    assert replay.body == {"status": "ignored", "reason": "delivery 3 was already received"}
    assert [d.commit for d in world.store.list_webhook_deliveries("web")] == [A]
    with pytest.raises(WebhookUnauthorized):
        world.webhooks.receive("github", "web", {"x-github-event": "push"}, b"{}")
    with pytest.raises(WebhookUnauthorized):  # as for a wrong secret: apps' existence stays hidden
        world.webhooks.receive("github", "ghost", {}, b"{}")


def test_every_accepted_delivery_is_a_job_at_once(world: World) -> None:
    with_source(world)
    answers = [github_delivery(world, "web", commit, delivery=str(n)) for n, commit in enumerate([A, B])]
    assert [a.body["deploy"] for a in answers] == ["d0", "d1"]
    assert [b[1:] for b in world.deploys.builds] == [
        (A, f"github push {A[:12]} (main)"),
        (B, f"github push {B[:12]} (main)"),
    ]
    assert world.store.get_deploy_params("d1") == {"source": {"commit": B, "branch": "main", "delivery": "1"}}
    listed = world.store.list_webhook_deliveries("web")
    assert [(d.deploy_id, d.status) for d in listed] == [
        ("d1", DeliveryStatus.QUEUED),
        ("d0", DeliveryStatus.QUEUED),
    ]
    world.store.update_deploy("d0", status=DeployStatus.SUCCEEDED)
    world.store.update_deploy("d1", status=DeployStatus.FAILED, error="cannot fetch")
    shown = {d.deploy_id: (d.status, d.error) for d in world.store.list_webhook_deliveries("web")}
    assert shown == {"d0": (DeliveryStatus.SUCCEEDED, None), "d1": (DeliveryStatus.FAILED, "cannot fetch")}


def test_the_job_fetches_its_commit(world: World, tmp_path: Path) -> None:
    from controller.domain.git_refs import SourceUnavailable

    with_source(world)
    lines: list[str] = []
    (tmp_path / "b").mkdir()
    digest = world.webhooks.fetch_source("web", {"commit": B, "branch": "main"}, tmp_path / "b", lines.append)
    assert digest == hashlib.sha256(B.encode()).hexdigest()
    assert world.mirrors.fetched == [("web", "https://git.example.com/o/r.git", B, FetchAuth("x", "tok"))]
    assert lines == [f"-----> Fetching {B[:12]} (main) from https://git.example.com/o/r.git"]
    world.mirrors.missing.add(A)
    (tmp_path / "a").mkdir()
    with pytest.raises(SourceUnavailable, match="has no commit"):
        world.webhooks.fetch_source("web", {"commit": A, "branch": "main"}, tmp_path / "a", lines.append)
    (tmp_path / "c").mkdir()
    with pytest.raises(InvalidInput, match="no Dockerfile"):
        world.webhooks.fetch_source("web", {"commit": C, "branch": "main"}, tmp_path / "c", lines.append)


def test_deliveries_a_dead_controller_left_without_a_job_get_one(world: World) -> None:
    with_source(world)
    now = datetime.now(UTC)
    world.store.add_webhook_deliveries(
        [WebhookDelivery("web", "github", str(n), "main", c, now) for n, c in enumerate([A, B])]
    )
    world.deploys.docker_down = True  # a job that cannot be made leaves its delivery failed
    world.webhooks.queue_pending()
    assert [d.status for d in world.store.list_webhook_deliveries("web")] == [
        DeliveryStatus.FAILED,
        DeliveryStatus.SUPERSEDED,
    ]
    world.store.add_webhook_deliveries([WebhookDelivery("web", "github", "2", "main", C, now)])
    world.deploys.docker_down = False
    world.webhooks.queue_pending()
    assert [b[1] for b in world.deploys.builds] == [C]
    assert world.store.pending_webhook_deliveries() == []


def test_a_redeploy_of_an_app_with_a_source_repository_fetches_the_branch_head(
    world: World, tmp_path: Path
) -> None:
    with_source(world)
    deploy = world.redeploy.redeploy("web")
    assert deploy.kind is DeployKind.BUILD
    assert deploy.description == "redeploy of the head of main (source repository) by api"
    assert world.store.get_deploy_params(deploy.id) == {"source": {"branch": "main"}}
    world.mirrors.history = [A, B]
    lines: list[str] = []
    (tmp_path / "head").mkdir()
    digest = world.webhooks.fetch_source("web", {"branch": "main"}, tmp_path / "head", lines.append)
    assert digest == hashlib.sha256(B.encode()).hexdigest()
    assert world.mirrors.fetched == [("web", "https://git.example.com/o/r.git", B, FetchAuth("x", "tok"))]
    assert lines == [
        "-----> Fetching the head of main from https://git.example.com/o/r.git",
        f"-----> main is at {B[:12]}",
    ]


def test_a_redeploy_of_a_pushed_app_builds_the_deploy_branch_head(world: World) -> None:
    world.store.create_app("web")
    world.sources.post_create("web")
    world.repos.heads[("web", "main")] = B
    world.repos.heads[("web", "dev")] = A  # not the deploy branch
    deploy = world.redeploy.redeploy("web", actor="alice")
    assert deploy.description == f"redeploy {B[:12]} (main) by alice"
    assert world.deploys.builds == [("web", hashlib.sha256(B.encode()).hexdigest(), deploy.description)]
    world.repos.heads[("web", "main")] = C  # a tree without a Dockerfile
    with pytest.raises(InvalidInput, match="no Dockerfile"):
        world.redeploy.redeploy("web")


def test_an_uploaded_or_never_deployed_app_cannot_be_redeployed(world: World) -> None:
    world.store.create_app("web")
    world.sources.post_create("web")
    with pytest.raises(Conflict, match=r"^web has nothing deployed yet$"):
        world.redeploy.redeploy("web")
    uploaded = world.deploys.request_build("web", unpack=lambda dest: "digest", description="upload")
    world.store.add_release(
        Release(
            app="web",
            number=1,
            image_id="sha256:i",
            source_digest="digest",
            config={},
            port=8080,
            healthchecks=(),
            created_at=datetime.now(UTC),
            deploy_id=uploaded.id,
        )
    )
    with pytest.raises(Conflict) as refused:
        world.redeploy.redeploy("web")
    assert str(refused.value) == (
        "web was deployed from an uploaded directory, whose source Dockyard does not keep: "
        "run dockyard deploy web --path DIR"
    )
    assert len(world.deploys.builds) == 1


def test_a_redeploy_of_an_unknown_app_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        world.redeploy.redeploy("ghost")
    with pytest.raises(InvalidInput):
        world.redeploy.redeploy("../etc")
