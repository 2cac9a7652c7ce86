"""The zero-downtime rollout, one small function per step, in the order they run:

    build            the image of a build context
    release_of       release N = that image + the app's config + its health checks
    roll_out:
      start_healthy  start the new web containers and wait until each passes its health check
      switch         point the proxy at them (nothing before this touches what serves)
      go_live        record the release as current and say so
      retire         stop the containers that served before
      prune          remove images beyond the last K releases

Every step takes the job's context (its log and cancel flag) first. Anything that fails
before `switch` removes what it started and leaves the serving containers untouched.
"""

from datetime import UTC, datetime
from pathlib import Path

from controller.domain.appjson import parse_healthchecks
from controller.domain.containers import (
    LABEL_DEPLOY,
    ContainerSpec,
    base_labels,
    choose_port,
    image_tag,
    web_container_spec,
)
from controller.domain.errors import DockyardError
from controller.domain.models import App, ContainerInfo, Release
from controller.domain.retention import kept_images
from controller.services.deploys.health_report import health_failure
from controller.services.deploys.jobs import ARROW, FAIL, INDENT, PipelineSettings, check_cancel
from controller.services.events import EventBus
from controller.services.health import wait_until_healthy
from controller.services.ports import BuildContexts, BuiltImage, Prober, Runtime, Store
from controller.services.queue import JobContext
from controller.services.routing import Routing, backends_of

QUICK_STOP_TIMEOUT = 1.0  # seconds: containers that never served are stopped without a drain


class Rollout:
    """The steps that take an app from the release it serves to a new one."""

    def __init__(
        self,
        *,
        store: Store,
        runtime: Runtime,
        prober: Prober,
        routing: Routing,
        contexts: BuildContexts,
        settings: PipelineSettings,
        events: EventBus | None = None,
    ) -> None:
        self._store = store
        self._runtime = runtime
        self._prober = prober
        self._routing = routing
        self._contexts = contexts
        self.settings = settings
        self.events = events or EventBus()

    # -- a build becomes a release -------------------------------------------------------

    def build(self, ctx: JobContext, context_dir: Path, digest: str) -> BuiltImage:
        """Build the context's image, streaming the build's output to the job's log."""
        app = ctx.job.app
        ctx.log(f"{ARROW}Building image (source {digest[:12]})")
        built = self._runtime.build_image(
            context_dir=context_dir,
            tag=image_tag(app, ctx.job.id),
            labels=base_labels(self.settings.instance, app) | {LABEL_DEPLOY: ctx.job.id},
            on_log=lambda line: ctx.log(INDENT + line),
            timeout=self.settings.build_timeout,
            cancel=ctx.cancel,
        )
        ctx.log(f"{ARROW}Built image {built.id[:19]}")
        return built

    def release_of(self, ctx: JobContext, built: BuiltImage, context_dir: Path, digest: str) -> Release:
        """The next release of the app: the built image, the app's config, the context's health checks."""
        app = ctx.job.app
        app_json = self._contexts.read_app_json(context_dir)
        config = self._store.get_config(app)
        return Release(
            app=app,
            number=self._store.next_release_number(app),
            image_id=built.id,
            source_digest=digest,
            config=config,
            port=choose_port(config, built.exposed_ports),
            healthchecks=parse_healthchecks(app_json) if app_json is not None else (),
            created_at=datetime.now(UTC),
            deploy_id=ctx.job.id,
            description=ctx.job.description,
        )

    # -- a release replaces the serving one ----------------------------------------------

    def roll_out(self, ctx: JobContext, release: Release, *, record: bool) -> None:
        """Serve `release` instead of what serves now; `record` stores it as a new release."""
        app = self._store.get_app(release.app)
        check_cancel(ctx)
        ctx.log(
            f"{ARROW}Starting {app.web_scale} web container(s) of v{release.number} on port {release.port}"
        )
        new = self.start_healthy(ctx, release, app.web_scale, first_index=0)
        self._check_cancel_or_remove(ctx, new)
        self.switch(ctx, release, new)
        self.go_live(ctx, app, release, record=record)
        new_ids = {c.id for c in new}
        self.retire(ctx, [c for c in self._runtime.list_containers(app.name) if c.id not in new_ids])
        self.prune(ctx, app.name, release)

    def start_healthy(
        self, ctx: JobContext, release: Release, count: int, *, first_index: int
    ) -> list[ContainerInfo]:
        """Start `count` containers and wait for them all; on failure remove them all."""
        started: list[ContainerInfo] = []
        try:
            for index in range(first_index, first_index + count):
                started.append(self._runtime.run_container(self._container_spec(ctx, release, index)))
            for container in started:
                check_cancel(ctx)
                self._wait_until_healthy(ctx, release, container)
        except BaseException:
            self.remove_quietly(ctx, started)
            raise
        return started

    def switch(self, ctx: JobContext, release: Release, containers: list[ContainerInfo]) -> None:
        """Route the app to `containers`; if the proxy refuses, remove those of them it does not serve."""
        backends = backends_of(containers, release.port)
        ctx.log(f"{ARROW}Switching traffic to {len(backends)} container(s)")
        try:
            self._routing.switch(release.app, backends)
        except BaseException:
            serving = {b.container_id for b in self._routing.backends(release.app)}
            self.remove_quietly(ctx, [c for c in containers if c.id not in serving])
            raise

    def go_live(self, ctx: JobContext, app: App, release: Release, *, record: bool) -> None:
        """The release serves: store it as the app's current one and say where it is live."""
        if record:
            self._store.add_release(release)
        self._store.set_current_release(app.name, release.number)
        self._store.update_deploy(ctx.job.id, release_number=release.number)
        # Said before the old containers are retired (that takes a while).
        urls = self.settings.public_urls(app.name, app.domains)
        ctx.log(f"=====> {app.name} v{release.number} is live" + (f" at {', '.join(urls)}" if urls else ""))

    def retire(self, ctx: JobContext, containers: list[ContainerInfo]) -> None:
        """Stop and remove containers that no longer serve (each gets the stop timeout to finish)."""
        if containers:
            ctx.log(f"{ARROW}Retiring {len(containers)} old container(s)")
        for container in containers:
            self._runtime.remove_container(container.id, stop_timeout=self.settings.stop_timeout)

    def prune(self, ctx: JobContext, app: str, current: Release) -> None:
        """Remove the app's images that none of its last K releases use (a failure only warns)."""
        keep = kept_images(
            self._store.list_releases(app), keep=self.settings.keep_releases, current=current.number
        )
        keep.add(current.image_id)
        try:
            removed = self._runtime.prune_images(app, keep)
        except DockyardError as exc:
            ctx.log(f"{FAIL}image cleanup skipped: {exc}")
            return
        if removed:
            ctx.log(f"{ARROW}Removed {len(removed)} image(s) older than the last {len(keep)} image(s)")

    # -- what the steps share ------------------------------------------------------------

    def serving_containers(self, app: str, release: Release | None) -> list[ContainerInfo]:
        """The running web containers the proxy routes `app` to now (of `release`, when given)."""
        serving = {b.container_id for b in self._routing.backends(app)}
        return sorted(
            (
                c
                for c in self._runtime.list_containers(app)
                if c.id in serving
                and c.state == "running"
                and (release is None or c.release == release.number)
            ),
            key=lambda c: c.name,
        )

    def remove_quietly(self, ctx: JobContext, containers: list[ContainerInfo]) -> None:
        """Remove containers that never served; a failure is logged, not raised."""
        for container in containers:
            try:
                self._runtime.remove_container(container.id, stop_timeout=QUICK_STOP_TIMEOUT)
            except DockyardError as exc:
                ctx.log(f"{FAIL}could not remove {container.name}: {exc}")

    def _container_spec(self, ctx: JobContext, release: Release, index: int) -> ContainerSpec:
        return web_container_spec(
            instance=self.settings.instance,
            app=release.app,
            release=release.number,
            deploy_id=ctx.job.id,
            index=index,
            image_id=release.image_id,
            config=release.config,
            port=release.port,
            network=self.settings.network,
            memory_bytes=self.settings.memory_bytes,
        )

    def _wait_until_healthy(self, ctx: JobContext, release: Release, container: ContainerInfo) -> None:
        ctx.log(f"{ARROW}Health-checking {container.name}")
        try:
            wait_until_healthy(
                runtime=self._runtime,
                prober=self._prober,
                container=container,
                port=release.port,
                checks=release.healthchecks,
                budget=self.settings.health_timeout,
                log=ctx.log,
            )
        except DockyardError as exc:
            self._publish_health(ctx, release, container, error=str(exc))
            raise type(exc)(health_failure(self._runtime, release, container, exc)) from exc
        self._publish_health(ctx, release, container, error=None)

    def _publish_health(
        self, ctx: JobContext, release: Release, container: ContainerInfo, *, error: str | None
    ) -> None:
        """A `health` event: a new container passed (or failed) its health check in a deploy."""
        self.events.publish(
            "health",
            app=release.app,
            container=container.name,
            release=release.number,
            deploy=ctx.job.id,
            result="failed" if error is not None else "passed",
            error=error,
        )

    def _check_cancel_or_remove(self, ctx: JobContext, started: list[ContainerInfo]) -> None:
        if ctx.cancel.is_set():
            self.remove_quietly(ctx, started)
            check_cancel(ctx)
