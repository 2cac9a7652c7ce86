"""`DeployService`: what the API, git and the reconciler ask of the pipeline, validated at once
and queued as jobs; the parts of the package do the rest."""

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Any

from controller.domain.account_records import AuditEvent
from controller.domain.errors import InvalidInput, NotFound
from controller.domain.git_records import WebhookDelivery
from controller.domain.models import Deploy, DeployKind
from controller.services.deploy_logs import DeployLogHub
from controller.services.deploys.announcer import DeployAnnouncer
from controller.services.deploys.intake import JobIntake
from controller.services.deploys.jobs import PipelineSettings, SourceFetcher, new_deploy_id, new_queued
from controller.services.deploys.kinds import DeployKinds
from controller.services.deploys.recovery import recover_interrupted
from controller.services.deploys.rollout import Rollout
from controller.services.deploys.runner import JobRunner
from controller.services.events import EventBus
from controller.services.ports import BuildContexts, Prober, Runtime, Store
from controller.services.queue import Dispatcher, JobHandler
from controller.services.routing import Routing


class DeployService:
    """Queues deploy jobs and runs them through the zero-downtime rollout."""

    def __init__(
        self,
        *,
        store: Store,
        runtime: Runtime,
        prober: Prober,
        routing: Routing,
        logs: DeployLogHub,
        contexts: BuildContexts,
        settings: PipelineSettings,
        events: EventBus | None = None,
    ) -> None:
        self._store = store
        self._runtime = runtime
        self._logs = logs
        self._contexts = contexts
        self._settings = settings
        events = events or EventBus()
        self._announcer = DeployAnnouncer(store=store, events=events)
        self._rollout = Rollout(
            store=store,
            runtime=runtime,
            prober=prober,
            routing=routing,
            contexts=contexts,
            settings=settings,
            events=events,
        )
        self._kinds = DeployKinds(
            store=store, runtime=runtime, routing=routing, contexts=contexts, rollout=self._rollout
        )
        self._handlers: dict[DeployKind, JobHandler] = self._kinds.handlers()
        self._runner = JobRunner(
            store=store,
            logs=logs,
            contexts=contexts,
            announcer=self._announcer,
            handlers=self._handlers,
            settings=settings,
        )
        self._dispatcher = Dispatcher(
            store=store,
            workers=settings.workers,
            other_workers=settings.other_workers,
            execute=self._runner.execute,
        )
        self._intake = JobIntake(
            store=store, logs=logs, contexts=contexts, announcer=self._announcer, dispatcher=self._dispatcher
        )

    def start(self) -> None:
        """Recover what a dead controller left behind, then start taking jobs."""
        recover_interrupted(
            store=self._store,
            logs=self._logs,
            contexts=self._contexts,
            intake=self._intake,
            requeue=self._settings.requeue_interrupted,
        )
        self._dispatcher.start()
        self._dispatcher.wake()
        self._runner.start()

    def stop(self) -> None:
        """Stop taking jobs and ask running ones to stop at their next step."""
        self._runner.stop()
        self._dispatcher.stop()

    def busy_apps(self) -> set[str]:
        """Apps with a deploy queued or running: the reconciler leaves them alone."""
        return set(self._dispatcher.running()) | set(self._store.queued_apps())

    # -- jobs of other services ---------------------------------------------------------

    def handle(self, kind: DeployKind, handler: JobHandler) -> None:
        """Run jobs of `kind` with `handler` (raise DockyardError to fail the job with a reason)."""
        self._handlers[kind] = handler

    def request_job(
        self, app: str, kind: DeployKind, params: dict[str, Any], description: str, *, coalesce: bool = False
    ) -> Deploy:
        """Queue a job of a handled kind; with `coalesce`, an already queued one of the kind is reused."""
        if kind not in self._handlers:
            raise InvalidInput(f"no handler for {kind.value} jobs")
        if coalesce:
            for queued in self._store.queued_deploys(app=app):
                if queued.kind is kind:
                    return queued
        return self._intake.queue(app, kind, params, description)

    def wait(self, deploy_id: str, timeout: float) -> Deploy:
        """The deploy once it is final, or as it is when `timeout` seconds have passed."""
        return self._announcer.wait(deploy_id, timeout)

    # -- requests (validate synchronously, then queue) -------------------------------

    def request_build(self, app: str, *, unpack: Callable[[Path], str], description: str = "") -> Deploy:
        """Unpack a build context (which may refuse it, changing nothing) and queue its build.

        Args:
            unpack: extracts the context into the given empty dir and returns its digest.
        """
        self._store.get_app(app)
        self._runtime.ping()
        deploy_id = new_deploy_id()
        context_dir = self._contexts.create(deploy_id)
        try:
            digest = unpack(context_dir)
        except BaseException:
            self._contexts.discard(deploy_id)
            raise
        return self._intake.queue(
            app,
            DeployKind.BUILD,
            {"digest": digest},
            description or f"build {digest[:12]}",
            deploy_id=deploy_id,
        )

    def request_archive_build(self, app: str, *, archive: IO[bytes], max_bytes: int) -> Deploy:
        """Queue the build of an uploaded (untrusted) tar of a directory with a Dockerfile at its top.

        Raises:
            InvalidInput: not a safe tar, or no Dockerfile at its top level.
            PayloadTooLarge: its files add up to more than `max_bytes`.
        """

        def unpack(dest: Path) -> str:
            digest = self._contexts.unpack_archive(archive, dest, max_bytes=max_bytes)
            if not self._contexts.has_dockerfile(dest):
                raise InvalidInput("the build context has no Dockerfile at its top level")
            return digest

        return self.request_build(app, unpack=unpack)

    def fetch_sources_with(self, fetcher: SourceFetcher) -> None:
        """How builds queued by `request_fetched_build` get their context when they run."""
        self._kinds.fetcher = fetcher

    def request_fetched_build(
        self,
        app: str,
        *,
        source: dict[str, Any],
        description: str,
        delivery: WebhookDelivery | None = None,
    ) -> Deploy:
        """Queue a build whose context the job itself fetches (with the fetcher) when it runs.

        The job exists from now on: a source that cannot be fetched fails it, with the reason
        in its log and error, like any other failed build. The webhook `delivery` that asked
        for it is recorded in the same transaction, with the job's id.

        Raises:
            DeliveryReceived: `delivery` was recorded before (no job is queued).
            NotFound: no such app.
        """
        return self._intake.queue(app, DeployKind.BUILD, {"source": source}, description, delivery=delivery)

    def request_rollback(self, app: str, *, to: int | None = None) -> Deploy:
        current = self._store.get_app(app).current_release
        if current is None:
            raise InvalidInput(f"app {app!r} has no release to roll back from")
        if to is None:
            older = [r.number for r in self._store.list_releases(app) if r.number < current]
            if not older:
                raise InvalidInput(f"app {app!r} has no release older than v{current}")
            to = older[0]
        target = self._store.get_release(app, to)
        try:
            self._runtime.image_exposed_ports(target.image_id)
        except NotFound as exc:
            raise InvalidInput(
                f"the image of {app} v{to} was pruned (the last {self._settings.keep_releases} "
                "images an app's releases use are kept): deploy that source again instead"
            ) from exc
        return self._intake.queue(app, DeployKind.ROLLBACK, {"to": to}, f"rollback to v{to}")

    def submit_config_change(
        self, app: str, *, set_: dict[str, str], unset: Sequence[str], audit: AuditEvent | None = None
    ) -> "Future[Deploy]":
        """Queue a config change without blocking; the future fails with NotFound for no such app.

        The `audit` event of the request is stored with the job (not without it).
        """
        keys = sorted(set_) + [f"-{key}" for key in unset]
        deploy = new_queued(app, DeployKind.CONFIG, "config " + " ".join(keys))
        return self._intake.submit(deploy, {"set": set_, "unset": list(unset)}, audit=audit)

    def request_scale(self, app: str, *, web: int) -> Deploy:
        return self._intake.queue(app, DeployKind.SCALE, {"web": web}, f"scale web={web}")

    def request_restart(self, app: str) -> Deploy:
        if self._store.get_app(app).current_release is None:
            raise InvalidInput(f"app {app!r} has no release to restart")
        return self._intake.queue(app, DeployKind.RESTART, {}, "restart")

    def request_repair(self, app: str, reason: str) -> Deploy:
        """Replace an app's dead serving containers (queued by the reconciler)."""
        return self._intake.queue(app, DeployKind.REPAIR, {}, f"repair: {reason}")

    def cancel(self, deploy_id: str) -> Deploy:
        """Cancel a queued deploy at once, or ask a running one to stop before it switches."""
        return self._runner.cancel(deploy_id)
