"""Deploy now: build an app's current source again (like Dokku's `ps:rebuild`).

What the current source is depends on how the app is deployed: the head of the branch of its
source repository (webhook deploys), else the head of the deploy branch in its own repo (git
push). A directory upload's source is not kept, so such an app cannot be rebuilt here.
"""

from controller.domain.errors import Conflict
from controller.domain.models import Deploy
from controller.domain.names import validate_app_name
from controller.services.deploys import DeployService
from controller.services.git_ports import RepoHost, UnpackTar
from controller.services.git_push import unpack_tree
from controller.services.git_sources import GitSourceService
from controller.services.ports import Store

API_ACTOR = "api"  # who asked, until API tokens belong to users


class RedeployService:
    """Queues the build of an app's current source, as a webhook push or a git push would."""

    def __init__(
        self,
        *,
        store: Store,
        sources: GitSourceService,
        repos: RepoHost,
        deploys: DeployService,
        unpack: UnpackTar,
    ) -> None:
        self._store = store
        self._sources = sources
        self._repos = repos
        self._deploys = deploys
        self._unpack = unpack

    def redeploy(self, app: str, *, actor: str = API_ACTOR) -> Deploy:
        """Queue the build of the app's source as it is now.

        With a source repository, the job fetches the branch head when it runs (the job a push
        webhook makes); else the head of the deploy branch in the app's repo is built (as a
        push of that commit would).

        Raises:
            NotFound: no such app.
            Conflict: the app has no source to build again (uploaded, or never deployed).
            InvalidInput: the commit's tree has no Dockerfile.
        """
        validate_app_name(app)
        source = self._sources.source(app)
        branch = source.branch
        if source.repo_url is not None:
            return self._deploys.request_fetched_build(
                app,
                source={"branch": branch},
                description=f"redeploy of the head of {branch} (source repository) by {actor}",
            )
        pushed = self._repos.archive_branch(app, branch)
        if pushed is not None:
            commit, tar = pushed
            return self._deploys.request_build(
                app,
                unpack=lambda dest: unpack_tree(self._unpack, tar, commit, dest),
                description=f"redeploy {commit[:12]} ({branch}) by {actor}",
            )
        if not self._store.list_releases(app):
            raise Conflict(f"{app} has nothing deployed yet")
        raise Conflict(
            f"{app} was deployed from an uploaded directory, whose source Dockyard does not keep: "
            f"run dockyard deploy {app} --path DIR"
        )
