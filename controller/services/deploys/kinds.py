"""The deploy kinds: what a build, rollback, config change, scale, restart and repair job does.

Each kind is a handler (`JobContext -> None`) in the table `handlers()` returns; the job
runner looks a job's kind up there, next to the kinds other services register (certificates).
"""

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from controller.domain.containers import choose_port
from controller.domain.errors import InvalidInput
from controller.domain.models import ContainerInfo, DeployKind, config_after
from controller.services.deploys.jobs import ARROW, FAIL, SourceFetcher, check_cancel
from controller.services.deploys.rollout import Rollout
from controller.services.ports import BuildContexts, Runtime, Store
from controller.services.queue import JobContext, JobHandler
from controller.services.routing import Routing


class DeployKinds:
    """The handlers of the pipeline's own job kinds, over the rollout's steps."""

    def __init__(
        self,
        *,
        store: Store,
        runtime: Runtime,
        routing: Routing,
        contexts: BuildContexts,
        rollout: Rollout,
    ) -> None:
        self._store = store
        self._runtime = runtime
        self._routing = routing
        self._contexts = contexts
        self._rollout = rollout
        self.fetcher: SourceFetcher | None = None  # set by `DeployService.fetch_sources_with`

    def handlers(self) -> dict[DeployKind, JobHandler]:
        return {
            DeployKind.BUILD: self.build,
            DeployKind.ROLLBACK: self.rollback,
            DeployKind.CONFIG: self.change_config,
            DeployKind.SCALE: self.scale,
            DeployKind.RESTART: self.restart,
            DeployKind.REPAIR: self.repair,
        }

    def build(self, ctx: JobContext) -> None:
        """Build the job's context (uploaded, or fetched now for a webhook push) and roll it out."""
        context_dir = self._contexts.path(ctx.job.id)
        if "source" in ctx.params:
            digest = self._fetch(ctx, dict(ctx.params["source"]))
        else:
            digest = str(ctx.params["digest"])
        built = self._rollout.build(ctx, context_dir, digest)
        release = self._rollout.release_of(ctx, built, context_dir, digest)
        self._rollout.roll_out(ctx, release, record=True)

    def _fetch(self, ctx: JobContext, source: dict[str, Any]) -> str:
        if self.fetcher is None:
            raise InvalidInput("this controller cannot fetch sources")
        context_dir = self._contexts.renew(ctx.job.id)  # a retry after a Docker outage starts afresh
        check_cancel(ctx)
        digest = self.fetcher(ctx.job.app, source, context_dir, ctx.log)
        check_cancel(ctx)
        return digest

    def rollback(self, ctx: JobContext) -> None:
        """Serve release `to` again, with the config it was released with."""
        app = ctx.job.app
        target = self._store.get_release(app, int(ctx.params["to"]))
        self._rollout.roll_out(ctx, target, record=False)
        current = self._store.get_config(app)
        self._store.update_config(
            app, set_=target.config, unset=[k for k in current if k not in target.config]
        )

    def change_config(self, ctx: JobContext) -> None:
        """Save the config and release it with the current image; a failed rollout undoes the change."""
        app = ctx.job.app
        set_: dict[str, str] = dict(ctx.params["set"])
        unset: list[str] = list(ctx.params["unset"])
        previous = self._store.get_config(app)
        missing = sorted(key for key in unset if key not in previous and key not in set_)
        if missing:
            ctx.log(f"{ARROW}Not set, so nothing to unset: {', '.join(missing)}")
        if config_after(previous, set_=set_, unset=unset) == previous:
            ctx.log(f"{ARROW}Nothing changed: no new release, no container restarted")
            return
        current_number = self._store.get_app(app).current_release  # only this job can change it
        if current_number is None:
            self._store.update_config(app, set_=set_, unset=unset)
            ctx.log(f"{ARROW}Config saved; it applies from the first deploy")
            return
        config = self._store.update_config(app, set_=set_, unset=unset)
        current = self._store.get_release(app, current_number)
        try:
            release = replace(
                current,
                number=self._store.next_release_number(app),
                config=config,
                port=choose_port(config, self._runtime.image_exposed_ports(current.image_id)),
                created_at=datetime.now(UTC),
                deploy_id=ctx.job.id,
                description=ctx.job.description,
            )
            self._rollout.roll_out(ctx, release, record=True)
        except BaseException:
            self._store.update_config(app, set_=previous, unset=[k for k in config if k not in previous])
            ctx.log(f"{FAIL}config change undone")
            raise

    def scale(self, ctx: JobContext) -> None:
        """Start or retire web containers of the current release; a failure restores the old scale."""
        web = int(ctx.params["web"])
        app = self._store.get_app(ctx.job.app)
        previous = app.web_scale
        self._store.set_web_scale(app.name, web)
        if app.current_release is None:
            ctx.log(f"{ARROW}Scale saved: web={web}; it applies from the first deploy")
            return
        release = self._store.get_release(app.name, app.current_release)
        try:
            running = self._rollout.serving_containers(app.name, release)
            if web > len(running):
                ctx.log(f"{ARROW}Starting {web - len(running)} more web container(s)")
                extra = self._rollout.start_healthy(
                    ctx, release, web - len(running), first_index=len(running)
                )
                self._rollout.switch(ctx, release, running + extra)
            else:
                keep, extra = running[:web], running[web:]
                self._rollout.switch(ctx, release, keep)
                self._rollout.retire(ctx, extra)
        except BaseException:
            self._store.set_web_scale(app.name, previous)
            raise
        ctx.log(f"{ARROW}{app.name} runs {web} web container(s)")

    def restart(self, ctx: JobContext) -> None:
        """Replace the web containers one at a time, each new one healthy before the old goes."""
        app = self._store.get_app(ctx.job.app)
        if app.current_release is None:
            raise InvalidInput(f"app {app.name!r} has no release to restart")
        release = self._store.get_release(app.name, app.current_release)
        serving = self._rollout.serving_containers(app.name, release)
        for index, old in enumerate(list(serving)):
            check_cancel(ctx)
            (new,) = self._rollout.start_healthy(ctx, release, 1, first_index=index)
            serving = [new if c.id == old.id else c for c in serving]
            self._rollout.switch(ctx, release, serving)
            self._rollout.retire(ctx, [old])
        ctx.log(f"{ARROW}Restarted {len(serving)} web container(s)")

    def repair(self, ctx: JobContext) -> None:
        """Start replacements for serving containers that died, then route to the living."""
        app = self._store.get_app(ctx.job.app)
        if app.current_release is None:
            ctx.log(f"{ARROW}Nothing to repair: {app.name} has no release")
            return
        release = self._store.get_release(app.name, app.current_release)
        serving_ids = {b.container_id for b in self._routing.backends(app.name)}
        alive = self._rollout.serving_containers(app.name, release)
        dead = [c for c in self._runtime.list_containers(app.name) if c.id in serving_ids and c not in alive]
        missing = app.web_scale - len(alive)
        started: list[ContainerInfo] = []
        if missing > 0:
            ctx.log(f"{ARROW}Starting {missing} replacement container(s) of v{release.number}")
            started = self._rollout.start_healthy(ctx, release, missing, first_index=len(alive))
        self._rollout.switch(ctx, release, alive + started)
        self._rollout.retire(ctx, dead)
        for container in dead:
            self._rollout.events.publish(
                "container",
                app=app.name,
                action="replaced",
                how="repair",
                container=container.name,
                release=release.number,
                replacements=[c.name for c in started],
            )
        ctx.log(f"{ARROW}{app.name} runs {len(alive) + len(started)} web container(s) again")
