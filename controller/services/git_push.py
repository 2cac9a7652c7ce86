"""`git push` to deploy: who may open which repo, what a push deploys, and handing its commit
to the deploy pipeline. SSH (git-shell) and smart HTTP both end up here.
"""

import contextlib
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from controller.domain.build_context import require_commit_dockerfile
from controller.domain.errors import Conflict, DockyardError, ErrorKind, InvalidInput, NotFound
from controller.domain.git_refs import GitService, RefUpdate
from controller.domain.models import App, Deploy
from controller.domain.names import validate_app_name
from controller.services.deploys import DeployService
from controller.services.git_ports import RepoHost, UnpackTar
from controller.services.git_sources import GitSourceService
from controller.services.ports import Store

_PUSHER_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
TICKET_TTL = 6 * 3600.0  # a push may upload for a long time before its hook runs
MAX_TICKETS = 10_000


class PushForbidden(DockyardError):
    """A deploy of a push that no authenticated git-shell or smart-HTTP session announced."""

    kind = ErrorKind.FORBIDDEN


@dataclass(frozen=True)
class Pusher:
    """Who pushed: `actor` names them in the audit log and the deploy, `via` how they authenticated.

    Over SSH the actor is the key's owner (the key's name for a key without one); over smart
    HTTP it is the API token, as for any API request.
    """

    actor: str
    via: str


class PushTickets:
    """One-use tickets that tie a push's hook to the session that authenticated it.

    git-shell (after sshd checked the key) and the smart-HTTP route (after checking the
    token) get a ticket naming the app and the pusher; it reaches the pre-receive hook in
    git's environment, and the deploy of the push must present it: the pusher recorded is
    the ticket's, never what the hook says.
    """

    def __init__(self, *, ttl: float = TICKET_TTL, limit: int = MAX_TICKETS) -> None:
        self._ttl = ttl
        self._limit = limit
        self._tickets: OrderedDict[str, tuple[str, Pusher, float]] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self, app: str, pusher: Pusher) -> str:
        ticket = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            while self._tickets and (
                len(self._tickets) >= self._limit or next(iter(self._tickets.values()))[2] < now
            ):
                self._tickets.popitem(last=False)
            self._tickets[ticket] = (app, pusher, now + self._ttl)
        return ticket

    def peek(self, app: str, ticket: str | None) -> Pusher | None:
        """The pusher of a valid ticket for `app`, which stays valid; None for any other."""
        with self._lock:
            entry = self._tickets.get(ticket) if ticket else None
        if entry is None or entry[0] != app or entry[2] < time.monotonic():
            return None
        return entry[1]

    def redeem(self, app: str, ticket: str | None) -> Pusher:
        """The pusher of a valid ticket for `app` (used up now).

        Raises:
            PushForbidden: no ticket, an unknown or expired one, or one for another app.
        """
        with self._lock:  # looked up by the (random, 256-bit) ticket itself; used once either way
            entry = self._tickets.pop(ticket, None) if ticket else None
        if entry is None or entry[0] != app or entry[2] < time.monotonic():
            raise PushForbidden(
                "this push was not announced by an authenticated git session (git-shell or smart "
                "HTTP), or the controller restarted during it: push again"
            )
        return entry[1]


@dataclass(frozen=True)
class PushedDeploy:
    """The deploy a push queued, and who pushed."""

    deploy: Deploy
    pusher: Pusher


@dataclass(frozen=True)
class PushPlan:
    """What a push does: the deploy-branch update to deploy (if any) and what to tell the pusher."""

    deploy: RefUpdate | None
    messages: tuple[str, ...]


class GitPushService:
    """Opens apps' repos to pushers and deploys the pushed commit of the deploy branch."""

    def __init__(
        self,
        *,
        store: Store,
        sources: GitSourceService,
        repos: RepoHost,
        deploys: DeployService,
        create_app: Callable[[str], App],
        unpack: UnpackTar,
        public_urls: Callable[[str, Sequence[str]], list[str]],
        auto_create: bool,
    ) -> None:
        self._store = store
        self._sources = sources
        self._repos = repos
        self._deploys = deploys
        self.tickets = PushTickets()
        self._create_app = create_app
        self._unpack = unpack
        self._public_urls = public_urls
        self._auto_create = auto_create

    def open_repo(self, app: str, *, service: GitService) -> Path:
        """The repo `service` may run on; a push to a missing app creates it when auto-create is on.

        Raises:
            NotFound: the app does not exist (and is not to be created).
        """
        validate_app_name(app)
        try:
            self._store.get_app(app)
        except NotFound:
            if service is not GitService.RECEIVE_PACK or not self._auto_create:
                hint = (
                    ""
                    if service is not GitService.RECEIVE_PACK
                    else f": create it with `dockyard apps create {app}`"
                )
                raise NotFound(f"app {app!r} does not exist{hint}") from None
            with contextlib.suppress(Conflict):  # another push created it a moment ago
                self._create_app(app)
        return self._sources.ensure_repo(app)

    def plan(self, app: str, updates: Sequence[RefUpdate]) -> PushPlan:
        """Which update (of the deploy branch) deploys; every other ref is accepted as is."""
        branch = self._sources.source(app).branch
        deploy = None
        messages = []
        for update in updates:
            if update.branch == branch and update.deletes:
                messages.append(f"branch {branch} deleted: {app} keeps running its current release")
            elif update.branch == branch:
                deploy = update
            else:
                name = f"branch {update.branch}" if update.branch else update.ref
                messages.append(f"{name} pushed: not deployed ({app} deploys branch {branch})")
        return PushPlan(deploy=deploy, messages=tuple(messages))

    def ssh_pusher(self, key_name: str) -> Pusher:
        """Who uses the SSH key `key_name`: its owner, else (an admin's key of old) the key itself."""
        key = next((k for k in self._store.list_ssh_keys() if k.name == key_name), None)
        owner = key.owner if key is not None else None
        return Pusher(actor=owner or key_name, via=f"SSH key {key_name}")

    def ssh_push_ticket(self, app: str, key_name: str) -> str:
        """A ticket for a push over SSH by the key `key_name` (sshd authenticated it; it must exist).

        Raises:
            PushForbidden: no key of that name is allowed to push.
        """
        if not any(key.name == key_name for key in self._store.list_ssh_keys()):
            raise PushForbidden(f"no SSH key named {key_name!r} may push")
        return self.tickets.issue(app, self.ssh_pusher(key_name))

    def http_push_ticket(self, app: str, pusher: Pusher) -> str:
        """A ticket for a push over smart HTTP by `pusher` (the API token that authenticated it)."""
        return self.tickets.issue(app, pusher)

    def pusher_of(self, app: str, ticket: str | None) -> Pusher | None:
        """Who a push's (still unused) ticket was issued to; None without a valid one."""
        return self.tickets.peek(app, ticket)

    def deploy_push(
        self, app: str, *, update: RefUpdate, ticket: str | None, quarantine: str | None
    ) -> PushedDeploy:
        """Queue the build of the pushed commit, taken by the controller from the app's own repo.

        The hook only names the ref update (and git's quarantine of the objects being pushed):
        the commit must be there, the ref must still be at `old`, and the pusher is the one
        the push's ticket was issued to.

        Raises:
            PushForbidden: no valid ticket for this app.
            InvalidInput: the update is not of the deploy branch, does not match the repo, or
                the tree has no Dockerfile.
        """
        if self.plan(app, [update]).deploy != update:
            raise InvalidInput(f"{update.ref} is not the deploy branch of {app}: nothing to deploy")
        pusher = self.tickets.redeem(app, ticket)
        who = pusher.actor if _PUSHER_RE.fullmatch(pusher.actor) else "unknown"
        commit = update.new
        tar = self._repos.archive_pushed(app, update=update, quarantine=quarantine)
        deploy = self._deploys.request_build(
            app,
            unpack=lambda dest: unpack_tree(self._unpack, tar, commit, dest),
            description=f"git push {commit[:12]} ({update.branch}) by {who}",
        )
        return PushedDeploy(deploy=deploy, pusher=pusher)

    def urls(self, app: str) -> list[str]:
        return self._public_urls(app, self._store.get_app(app).domains)


def unpack_tree(unpack: UnpackTar, tar: bytes, commit: str, dest: Path) -> str:
    """Unpack a commit's tree into a build context and return its digest.

    Raises:
        InvalidInput: the tree has no Dockerfile at its top.
    """
    digest = unpack(tar, dest)
    require_commit_dockerfile(dest, commit)
    return digest
