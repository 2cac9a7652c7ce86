"""`git push` to deploy: who may open which repo, what a push deploys, and handing its commit
to the deploy pipeline. SSH (git-shell) and smart HTTP both end up here.
"""

import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from controller.domain.errors import Conflict, InvalidInput, NotFound
from controller.domain.git_refs import GitService, RefUpdate
from controller.domain.models import App, Deploy
from controller.domain.names import validate_app_name
from controller.services.deploys import DeployService
from controller.services.git_ports import UnpackTar
from controller.services.git_sources import GitSourceService
from controller.services.ports import Store

_PUSHER_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


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
        deploys: DeployService,
        create_app: Callable[[str], App],
        unpack: UnpackTar,
        public_urls: Callable[[str, Sequence[str]], list[str]],
        auto_create: bool,
    ) -> None:
        self._store = store
        self._sources = sources
        self._deploys = deploys
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

    def deploy_push(self, app: str, *, update: RefUpdate, tar: bytes, pusher: str) -> Deploy:
        """Queue the build of the pushed commit, given as a tar of its tree.

        Raises:
            InvalidInput: the update is not of the deploy branch, or the tree has no Dockerfile.
        """
        if self.plan(app, [update]).deploy != update:
            raise InvalidInput(f"{update.ref} is not the deploy branch of {app}: nothing to deploy")
        commit = update.new
        who = pusher if _PUSHER_RE.fullmatch(pusher) else "unknown"

        def unpack(dest: Path) -> str:
            digest = self._unpack(tar, dest)
            if not (dest / "Dockerfile").is_file():
                raise InvalidInput(f"commit {commit[:12]} has no Dockerfile at the top of the repository")
            return digest

        return self._deploys.request_build(
            app, unpack=unpack, description=f"git push {commit[:12]} ({update.branch}) by {who}"
        )

    def urls(self, app: str) -> list[str]:
        return self._public_urls(app, self._store.get_app(app).domains)
