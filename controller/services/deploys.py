"""The deploy pipeline: build, release, start, health-check, switch, drain, retire, prune.

Every kind of change (build, rollback, config, scale, restart) is a deploy job that runs
through the same steps, one job at a time per app. Anything that fails before the proxy
switch leaves the serving containers and the proxy untouched. Other services run their
own kinds of job (certificate work) in the same queue through `handle` and `request_job`.
"""

import logging
import random
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from controller.domain.appjson import parse_healthchecks
from controller.domain.containers import (
    LABEL_DEPLOY,
    base_labels,
    choose_port,
    image_tag,
    port_source,
    web_container_spec,
)
from controller.domain.errors import (
    Conflict,
    ConnectionRefused,
    DeployCancelled,
    DockyardError,
    InvalidInput,
    NotFound,
    RuntimeUnavailable,
)
from controller.domain.models import (
    ContainerInfo,
    Deploy,
    DeployKind,
    DeployStatus,
    Release,
    config_after,
)
from controller.domain.retention import kept_images
from controller.services.batching import BatchWriter
from controller.services.deploy_logs import DeployLogHub
from controller.services.events import EventBus
from controller.services.health import wait_until_healthy
from controller.services.ports import Prober, Runtime, Store
from controller.services.queue import Dispatcher, JobContext, JobHandler
from controller.services.routing import Routing, backends_of

logger = logging.getLogger(__name__)
ARROW = "-----> "
INDENT = "       "
FAIL = " !     "
TIMEOUT_CHECK = 1.0  # seconds between checks of the running jobs' timeouts


@dataclass(frozen=True)
class PipelineSettings:
    """The knobs of the pipeline, taken from the controller's settings."""

    instance: str
    network: str
    builds_dir: Path
    keep_releases: int = 5
    build_timeout: float = 20 * 60
    health_timeout: float = 60.0
    stop_timeout: float = 10.0
    memory_bytes: int | None = None
    public_urls: Callable[[str, Sequence[str]], list[str]] = field(default=lambda app, domains: [])
    workers: int = 1  # builds at once
    other_workers: int = 2  # other jobs at once, next to the builds
    job_timeout: float = 30 * 60
    requeue_interrupted: int = 1
    docker_retries: int = 3
    docker_retry_delay: float = 1.0


@dataclass
class _Context:
    deploy: Deploy
    log: Callable[[str], None]
    cancel: threading.Event


SUPERSEDING = (DeployKind.BUILD, DeployKind.ROLLBACK)
# Fills an empty build context for a build queued with `request_fetched_build` (a webhook push
# fetched from its source repository) and returns its digest: (app, source, dest, log) -> digest.
SourceFetcher = Callable[[str, dict[str, Any], Path, Callable[[str], None]], str]


# Deploy ids name jobs and their log files; they are unique, not secret (every API call
# needs the token), so they come from a generator seeded once from the OS instead of a
# getrandom() call per request on the event loop.
_ids = random.Random(secrets.randbits(128))  # noqa: S311 - unique, not secret (see above)
_ids_lock = threading.Lock()


def new_deploy_id() -> str:
    with _ids_lock:
        return f"{_ids.getrandbits(64):016x}"


def new_queued(
    app: str, kind: DeployKind, description: str, *, deploy_id: str | None = None, attempt: int = 1
) -> Deploy:
    return Deploy(
        id=deploy_id or new_deploy_id(),
        app=app,
        kind=kind,
        status=DeployStatus.QUEUED,
        created_at=datetime.now(UTC),
        description=description,
        attempt=attempt,
    )


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
        settings: PipelineSettings,
        events: EventBus | None = None,
    ) -> None:
        self._events = events or EventBus()
        self._store = store
        self._runtime = runtime
        self._prober = prober
        self._routing = routing
        self._logs = logs
        self._settings = settings
        self._cancels: dict[str, threading.Event] = {}
        self._deadlines: dict[str, float] = {}  # running deploy -> when its job timeout ends
        self._stopping = threading.Event()
        self._handlers: dict[DeployKind, JobHandler] = {}
        self._fetcher: SourceFetcher | None = None
        self._finished = threading.Condition()
        self._dispatcher = Dispatcher(
            store=store, workers=settings.workers, other_workers=settings.other_workers, execute=self._execute
        )
        self._intake: BatchWriter[tuple[Deploy, dict[str, Any]], Deploy] = BatchWriter(
            self._store_batch, name="dockyard-intake"
        )

    def start(self) -> None:
        """Recover what a dead controller left behind, then start taking jobs."""
        self._recover()
        self._dispatcher.start()
        self._dispatcher.wake()
        threading.Thread(target=self._enforce_timeouts, name="dockyard-job-timeouts", daemon=True).start()

    def stop(self) -> None:
        """Stop taking jobs and ask running ones to stop at their next step."""
        self._stopping.set()
        for event in list(self._cancels.values()):
            event.set()
        self._dispatcher.stop()

    def _enforce_timeouts(self) -> None:
        """Cancel the running jobs whose time is up (one thread, not a timer per job)."""
        while not self._stopping.wait(TIMEOUT_CHECK):
            now = time.monotonic()
            for deploy_id, deadline in list(self._deadlines.items()):
                cancel = self._cancels.get(deploy_id)
                if now >= deadline and cancel is not None and not cancel.is_set():
                    logger.warning("deploy %s ran out of time; cancelling it", deploy_id)
                    cancel.set()

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
        return self._queue(app, kind, params, description)

    def wait(self, deploy_id: str, timeout: float) -> Deploy:
        """The deploy once it is final, or as it is when `timeout` seconds have passed."""
        deadline = time.monotonic() + timeout
        with self._finished:
            while True:
                deploy = self._store.get_deploy(deploy_id)
                left = deadline - time.monotonic()
                if deploy.status.is_final or left <= 0:
                    return deploy
                self._finished.wait(min(left, 1.0))

    # -- requests (validate synchronously, then queue) -------------------------------

    def request_build(self, app: str, *, unpack: Callable[[Path], str], description: str = "") -> Deploy:
        """Unpack a build context (which may refuse it, changing nothing) and queue its build.

        Args:
            unpack: extracts the context into the given empty dir and returns its digest.
        """
        self._store.get_app(app)
        self._runtime.ping()
        deploy_id = new_deploy_id()
        context_dir = self._settings.builds_dir / deploy_id
        context_dir.mkdir(parents=True)
        try:
            digest = unpack(context_dir)
        except BaseException:
            shutil.rmtree(context_dir, ignore_errors=True)
            raise
        return self._queue(
            app,
            DeployKind.BUILD,
            {"digest": digest},
            description or f"build {digest[:12]}",
            deploy_id=deploy_id,
        )

    def fetch_sources_with(self, fetcher: SourceFetcher) -> None:
        """How builds queued by `request_fetched_build` get their context when they run."""
        self._fetcher = fetcher

    def request_fetched_build(self, app: str, *, source: dict[str, Any], description: str) -> Deploy:
        """Queue a build whose context the job itself fetches (with the fetcher) when it runs.

        The job exists from now on: a source that cannot be fetched fails it, with the reason
        in its log and error, like any other failed build.
        """
        return self._queue(app, DeployKind.BUILD, {"source": source}, description)

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
        return self._queue(app, DeployKind.ROLLBACK, {"to": to}, f"rollback to v{to}")

    def request_config_change(self, app: str, *, set_: dict[str, str], unset: Sequence[str]) -> Deploy:
        return self.submit_config_change(app, set_=set_, unset=unset).result()

    def submit_config_change(
        self, app: str, *, set_: dict[str, str], unset: Sequence[str]
    ) -> "Future[Deploy]":
        """Queue a config change without blocking; the future fails with NotFound for no such app."""
        keys = sorted(set_) + [f"-{key}" for key in unset]
        deploy = new_queued(app, DeployKind.CONFIG, "config " + " ".join(keys))
        return self._submit(deploy, {"set": set_, "unset": list(unset)})

    def request_scale(self, app: str, *, web: int) -> Deploy:
        return self._queue(app, DeployKind.SCALE, {"web": web}, f"scale web={web}")

    def request_restart(self, app: str) -> Deploy:
        if self._store.get_app(app).current_release is None:
            raise InvalidInput(f"app {app!r} has no release to restart")
        return self._queue(app, DeployKind.RESTART, {}, "restart")

    def request_repair(self, app: str, reason: str) -> Deploy:
        """Replace an app's dead serving containers (queued by the reconciler)."""
        return self._queue(app, DeployKind.REPAIR, {}, f"repair: {reason}")

    def cancel(self, deploy_id: str) -> Deploy:
        """Cancel a queued deploy at once, or ask a running one to stop before it switches."""
        deploy = self._store.get_deploy(deploy_id)
        if deploy.status is DeployStatus.QUEUED and self._store.claim_deploy(
            deploy_id, DeployStatus.CANCELLED, error="cancelled before it started"
        ):
            self._logs.append(deploy_id, FAIL + "cancelled before it started")
            self._logs.finish(deploy_id)
            self._discard_context(deploy_id)
            self._publish(deploy_id)
            return self._store.get_deploy(deploy_id)
        event = self._cancels.get(deploy_id)
        if event is None:
            raise Conflict(f"deploy {deploy_id} is {self._store.get_deploy(deploy_id).status.value}")
        event.set()
        return self._store.get_deploy(deploy_id)

    # -- the queue ---------------------------------------------------------------------

    def _queue(
        self,
        app: str,
        kind: DeployKind,
        params: dict[str, Any],
        description: str,
        *,
        deploy_id: str | None = None,
        attempt: int = 1,
    ) -> Deploy:
        """Queue a deploy and return it once it is stored."""
        deploy = new_queued(app, kind, description, deploy_id=deploy_id, attempt=attempt)
        return self._submit(deploy, params).result()

    def _submit(self, deploy: Deploy, params: dict[str, Any]) -> "Future[Deploy]":
        """Hand a new queued deploy to the intake; the future completes once it is stored."""
        self._logs.open(deploy.id)  # before the dispatcher can see it: followers miss nothing
        return self._intake.submit((deploy, params))

    def _refused(self, deploy_id: str) -> None:
        self._logs.discard(deploy_id)
        self._discard_context(deploy_id)

    def _store_batch(self, batch: list[tuple[Deploy, dict[str, Any]]]) -> list[Deploy | DockyardError]:
        """Store the new deploys of concurrent requests at once (on the intake thread).

        A refused deploy's log and build context are dropped before its request hears of it.
        """
        try:
            errors = self._store.create_deploys(batch)
        except BaseException:
            for deploy, _ in batch:
                self._refused(deploy.id)
            raise
        outcomes: list[Deploy | DockyardError] = []
        accepted: list[Deploy] = []
        for (deploy, _), error in zip(batch, errors, strict=True):
            if error is not None:
                self._refused(deploy.id)
                outcomes.append(error)
                continue
            accepted.append(deploy)
            outcomes.append(deploy)
        self._accepted(accepted)
        return outcomes

    def _accepted(self, batch: list[Deploy]) -> None:
        """New deploys are stored: announce them and let them run.

        Superseding looks at all of an app's queued builds at once, so once per app and batch
        is enough (a burst of webhook deliveries makes one job each).
        """
        superseding: dict[str, Deploy] = {}
        for deploy in batch:
            try:
                self._publish(deploy)
            except Exception:
                logger.exception("deploy %s is stored, but announcing it failed", deploy.id)
            if deploy.kind in SUPERSEDING:
                superseding[deploy.app] = deploy
        for app in dict.fromkeys(deploy.app for deploy in batch):
            try:
                if app in superseding:
                    self._supersede_older(superseding[app])
                self._dispatcher.queued(app)
            except Exception:
                logger.exception("deploys of %s are stored, but announcing them failed", app)

    def _supersede_older(self, newer: Deploy) -> None:
        """Of an app's queued builds and rollbacks only the newest will run.

        Requests race (a newer one can be stored before an older one), so every request
        looks at all of them, and also at the deploy running now: what is older than that
        would undo it.
        """
        queued = [d for d in self._store.queued_deploys(app=newer.app) if d.kind in SUPERSEDING]
        running_id = self._dispatcher.running().get(newer.app)
        running = self._store.get_deploy(running_id) if running_id else None
        candidates = queued + ([running] if running and running.kind in SUPERSEDING else [])
        if not candidates:
            return
        newest = max(candidates, key=lambda d: (d.created_at, d.id))
        older = {d.id: d for d in queued if d.id != newest.id}
        if not older:
            return
        reason = f"superseded by deploy {newest.id}"
        for claimed in self._store.claim_deploys(list(older), DeployStatus.SUPERSEDED, error=reason):
            self._logs.append(claimed, ARROW + reason)
            self._logs.finish(claimed)
            self._discard_context(claimed)
            self._publish(replace(older[claimed], status=DeployStatus.SUPERSEDED, error=reason))

    def _publish(self, deploy_or_id: Deploy | str) -> None:
        deploy = deploy_or_id if isinstance(deploy_or_id, Deploy) else self._store.get_deploy(deploy_or_id)
        if deploy.status.is_final:
            with self._finished:
                self._finished.notify_all()
        self._events.publish(
            "deploy",
            id=deploy.id,
            app=deploy.app,
            kind=deploy.kind.value,
            status=deploy.status.value,
            release=deploy.release_number,
            error=deploy.error,
        )

    def _discard_context(self, deploy_id: str) -> None:
        shutil.rmtree(self._settings.builds_dir / deploy_id, ignore_errors=True)

    def _recover(self) -> None:
        """Deploys a dead controller left running are interrupted, and queued again once."""
        for deploy in self._store.unfinished_deploys():
            if deploy.status is DeployStatus.QUEUED:
                self._logs.open(deploy.id)
                continue
            self._logs.append(deploy.id, FAIL + "interrupted: the controller stopped during this deploy")
            self._store.update_deploy(
                deploy.id, status=DeployStatus.INTERRUPTED, error="the controller stopped"
            )
            self._logs.finish(deploy.id)
            if deploy.attempt > self._settings.requeue_interrupted:
                self._discard_context(deploy.id)
                continue
            retry_id = new_deploy_id()
            old_context = self._settings.builds_dir / deploy.id
            fetched = "source" in self._store.get_deploy_params(deploy.id)  # fetches it again
            if deploy.kind is DeployKind.BUILD and not fetched:
                if not old_context.is_dir():
                    continue
                old_context.rename(self._settings.builds_dir / retry_id)
            try:
                retry = self._queue(
                    deploy.app,
                    deploy.kind,
                    self._store.get_deploy_params(deploy.id),
                    deploy.description,
                    deploy_id=retry_id,
                    attempt=deploy.attempt + 1,
                )
            except DockyardError as exc:
                logger.warning("could not queue deploy %s again: %s", deploy.id, exc)
                continue
            self._logs.append(deploy.id, f"{ARROW}queued again as deploy {retry.id}")
        live = {d.id for d in self._store.unfinished_deploys()}
        for leftover in self._settings.builds_dir.iterdir():
            if leftover.name not in live:
                shutil.rmtree(leftover, ignore_errors=True)

    def _execute(self, deploy: Deploy, params: dict[str, Any]) -> None:
        """Run one claimed deploy (on a dispatcher worker)."""
        cancel = threading.Event()
        self._cancels[deploy.id] = cancel
        self._deadlines[deploy.id] = time.monotonic() + self._settings.job_timeout

        def log(line: str) -> None:
            self._logs.append(deploy.id, line)

        try:
            self._run(_Context(deploy=deploy, log=log, cancel=cancel), self._action(deploy, params))
        finally:
            self._deadlines.pop(deploy.id, None)
            self._cancels.pop(deploy.id, None)
            if deploy.kind is DeployKind.BUILD:
                self._discard_context(deploy.id)

    def _action(self, deploy: Deploy, params: dict[str, Any]) -> Callable[[_Context], None]:
        if deploy.kind is DeployKind.BUILD:
            context_dir = self._settings.builds_dir / deploy.id
            if "source" in params:
                return lambda ctx: self._fetch_and_build(ctx, context_dir, dict(params["source"]))
            return lambda ctx: self._build(ctx, context_dir, str(params["digest"]))
        if deploy.kind is DeployKind.ROLLBACK:
            return lambda ctx: self._rollback(ctx, self._store.get_release(deploy.app, int(params["to"])))
        if deploy.kind is DeployKind.CONFIG:
            return lambda ctx: self._change_config(ctx, dict(params["set"]), list(params["unset"]))
        if deploy.kind is DeployKind.SCALE:
            return lambda ctx: self._scale(ctx, int(params["web"]))
        if deploy.kind is DeployKind.RESTART:
            return self._restart
        if deploy.kind is DeployKind.REPAIR:
            return self._repair
        handler = self._handlers.get(deploy.kind)

        def run_handler(ctx: _Context) -> None:
            if handler is None:
                raise InvalidInput(f"no handler for {deploy.kind.value} jobs")
            handler(JobContext(job=ctx.deploy, params=params, log=ctx.log, cancel=ctx.cancel))

        return run_handler

    def _run(self, ctx: _Context, action: Callable[[_Context], None]) -> None:
        deploy_id = ctx.deploy.id
        self._publish(replace(ctx.deploy, status=DeployStatus.RUNNING))  # claimed: running now
        ctx.log(f"{ARROW}{ctx.deploy.kind.value} of {ctx.deploy.app}: {ctx.deploy.description}")
        final: Deploy | None = None  # as stored at the end: what the event says
        try:
            self._with_docker_retries(ctx, action)
        except DeployCancelled as exc:
            ctx.log(FAIL + str(exc))
            final = self._store.update_deploy(deploy_id, status=DeployStatus.CANCELLED, error=str(exc))
        except DockyardError as exc:
            for line in str(exc).splitlines() or ["failed"]:
                ctx.log(FAIL + line)
            final = self._store.update_deploy(deploy_id, status=DeployStatus.FAILED, error=str(exc))
        except Exception as exc:
            logger.exception("deploy %s failed unexpectedly", deploy_id)
            error = f"internal error: {exc!r}"
            ctx.log(FAIL + error)
            final = self._store.update_deploy(deploy_id, status=DeployStatus.FAILED, error=error)
        else:
            final = self._store.update_deploy(deploy_id, status=DeployStatus.SUCCEEDED)
        finally:
            self._logs.finish(deploy_id)
            self._publish(final or deploy_id)

    def _with_docker_retries(self, ctx: _Context, action: Callable[[_Context], None]) -> None:
        """Docker being briefly unreachable is retried with backoff; other errors fail at once."""
        delay = self._settings.docker_retry_delay
        for attempt in range(1, self._settings.docker_retries + 1):
            try:
                action(ctx)
                return
            except RuntimeUnavailable as exc:
                if attempt == self._settings.docker_retries:
                    raise
                ctx.log(f"{FAIL}{exc}; trying again in {delay:.0f} s")
                if ctx.cancel.wait(delay):
                    raise DeployCancelled("the deploy was cancelled") from exc
                delay *= 2

    # -- the kinds of deploy -------------------------------------------------------------

    def _build(self, ctx: _Context, context_dir: Path, digest: str) -> None:
        app = ctx.deploy.app
        ctx.log(f"{ARROW}Building image (source {digest[:12]})")
        built = self._runtime.build_image(
            context_dir=context_dir,
            tag=image_tag(app, ctx.deploy.id),
            labels=base_labels(self._settings.instance, app) | {LABEL_DEPLOY: ctx.deploy.id},
            on_log=lambda line: ctx.log(INDENT + line),
            timeout=self._settings.build_timeout,
            cancel=ctx.cancel,
        )
        ctx.log(f"{ARROW}Built image {built.id[:19]}")
        app_json = context_dir / "app.json"
        checks = parse_healthchecks(app_json.read_text(errors="replace")) if app_json.is_file() else ()
        config = self._store.get_config(app)
        release = Release(
            app=app,
            number=self._store.next_release_number(app),
            image_id=built.id,
            source_digest=digest,
            config=config,
            port=choose_port(config, built.exposed_ports),
            healthchecks=checks,
            created_at=datetime.now(UTC),
            deploy_id=ctx.deploy.id,
            description=ctx.deploy.description,
        )
        self._roll_out(ctx, release, record=True)

    def _fetch_and_build(self, ctx: _Context, context_dir: Path, source: dict[str, Any]) -> None:
        if self._fetcher is None:
            raise InvalidInput("this controller cannot fetch sources")
        shutil.rmtree(context_dir, ignore_errors=True)  # a retry after a Docker outage starts afresh
        context_dir.mkdir(parents=True)
        self._check_cancel(ctx)
        digest = self._fetcher(ctx.deploy.app, source, context_dir, ctx.log)
        self._check_cancel(ctx)
        self._build(ctx, context_dir, digest)

    def _rollback(self, ctx: _Context, target: Release) -> None:
        self._roll_out(ctx, target, record=False)
        current = self._store.get_config(ctx.deploy.app)
        self._store.update_config(
            ctx.deploy.app, set_=target.config, unset=[k for k in current if k not in target.config]
        )

    def _change_config(self, ctx: _Context, set_: dict[str, str], unset: list[str]) -> None:
        app = ctx.deploy.app
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
            exposed = self._runtime.image_exposed_ports(current.image_id)
            release = replace(
                current,
                number=self._store.next_release_number(app),
                config=config,
                port=choose_port(config, exposed),
                created_at=datetime.now(UTC),
                deploy_id=ctx.deploy.id,
                description=ctx.deploy.description,
            )
            self._roll_out(ctx, release, record=True)
        except BaseException:
            self._store.update_config(app, set_=previous, unset=[k for k in config if k not in previous])
            ctx.log(f"{FAIL}config change undone")
            raise

    def _scale(self, ctx: _Context, web: int) -> None:
        app = self._store.get_app(ctx.deploy.app)
        previous = app.web_scale
        self._store.set_web_scale(app.name, web)
        if app.current_release is None:
            ctx.log(f"{ARROW}Scale saved: web={web}; it applies from the first deploy")
            return
        release = self._store.get_release(app.name, app.current_release)
        try:
            running = self._serving_containers(app.name, release)
            if web > len(running):
                ctx.log(f"{ARROW}Starting {web - len(running)} more web container(s)")
                extra = self._start_healthy(ctx, release, web - len(running), first_index=len(running))
                self._switch(ctx, release, running + extra)
            else:
                keep, extra = running[:web], running[web:]
                self._switch(ctx, release, keep)
                self._retire(ctx, extra)
        except BaseException:
            self._store.set_web_scale(app.name, previous)
            raise
        ctx.log(f"{ARROW}{app.name} runs {web} web container(s)")

    def _restart(self, ctx: _Context) -> None:
        """Replace the web containers one at a time, each new one healthy before the old goes."""
        app = self._store.get_app(ctx.deploy.app)
        assert app.current_release is not None
        release = self._store.get_release(app.name, app.current_release)
        serving = self._serving_containers(app.name, release)
        for index, old in enumerate(list(serving)):
            self._check_cancel(ctx)
            (new,) = self._start_healthy(ctx, release, 1, first_index=index)
            serving = [new if c.id == old.id else c for c in serving]
            self._switch(ctx, release, serving)
            self._retire(ctx, [old])
        ctx.log(f"{ARROW}Restarted {len(serving)} web container(s)")

    def _repair(self, ctx: _Context) -> None:
        """Start replacements for serving containers that died, then route to the living."""
        app = self._store.get_app(ctx.deploy.app)
        if app.current_release is None:
            ctx.log(f"{ARROW}Nothing to repair: {app.name} has no release")
            return
        release = self._store.get_release(app.name, app.current_release)
        serving_ids = {b.container_id for b in self._routing.backends(app.name)}
        alive = self._serving_containers(app.name, release)
        dead = [c for c in self._runtime.list_containers(app.name) if c.id in serving_ids and c not in alive]
        missing = app.web_scale - len(alive)
        if missing > 0:
            ctx.log(f"{ARROW}Starting {missing} replacement container(s) of v{release.number}")
            alive += self._start_healthy(ctx, release, missing, first_index=len(alive))
        self._switch(ctx, release, alive)
        self._retire(ctx, dead)
        ctx.log(f"{ARROW}{app.name} runs {len(alive)} web container(s) again")

    # -- the rollout steps -------------------------------------------------------------

    def _roll_out(self, ctx: _Context, release: Release, *, record: bool) -> None:
        app = self._store.get_app(release.app)
        self._check_cancel(ctx)
        ctx.log(
            f"{ARROW}Starting {app.web_scale} web container(s) of v{release.number} on port {release.port}"
        )
        new = self._start_healthy(ctx, release, app.web_scale, first_index=0)
        self._check_cancel_or_remove(ctx, new)
        self._switch(ctx, release, new)
        if record:
            self._store.add_release(release)
        self._store.set_current_release(app.name, release.number)
        self._store.update_deploy(ctx.deploy.id, release_number=release.number)
        # Live now: say so before the old containers are retired (that takes a while)
        urls = self._settings.public_urls(app.name, app.domains)
        ctx.log(f"=====> {app.name} v{release.number} is live" + (f" at {', '.join(urls)}" if urls else ""))
        new_ids = {c.id for c in new}
        self._retire(ctx, [c for c in self._runtime.list_containers(app.name) if c.id not in new_ids])
        self._prune(ctx, app.name, release)

    def _start_healthy(
        self, ctx: _Context, release: Release, count: int, *, first_index: int
    ) -> list[ContainerInfo]:
        """Start `count` containers and wait for them all; on failure remove them all."""
        started: list[ContainerInfo] = []
        try:
            for index in range(first_index, first_index + count):
                spec = web_container_spec(
                    instance=self._settings.instance,
                    app=release.app,
                    release=release.number,
                    deploy_id=ctx.deploy.id,
                    index=index,
                    image_id=release.image_id,
                    config=release.config,
                    port=release.port,
                    network=self._settings.network,
                    memory_bytes=self._settings.memory_bytes,
                )
                started.append(self._runtime.run_container(spec))
            for container in started:
                self._check_cancel(ctx)
                ctx.log(f"{ARROW}Health-checking {container.name}")
                try:
                    wait_until_healthy(
                        runtime=self._runtime,
                        prober=self._prober,
                        container=container,
                        port=release.port,
                        checks=release.healthchecks,
                        budget=self._settings.health_timeout,
                        log=ctx.log,
                    )
                except DockyardError as exc:
                    tail = self._runtime.container_logs(container.id, tail=20).rstrip()
                    message = f"{container.name} failed its health check: {exc}"
                    if isinstance(exc, ConnectionRefused):
                        message += "\n" + self._port_diagnosis(release, container, exc.port)
                    if tail:
                        message += "\nlast lines of its output:\n" + "\n".join(
                            INDENT + line for line in tail.splitlines()
                        )
                    raise type(exc)(message) from exc
        except BaseException:
            self._remove_quietly(ctx, started)
            raise
        return started

    def _port_diagnosis(self, release: Release, container: ContainerInfo, port: int) -> str:
        """Why nothing answered on `port`: where that port came from, and where the app listens."""
        try:
            exposed = self._runtime.image_exposed_ports(release.image_id)
            source = port_source(release.config, exposed)
        except DockyardError:
            source = "the release"
        lines = [f"{INDENT}port {port} came from {source}"]
        try:
            listening = self._runtime.listening_ports(container.id)
        except DockyardError as exc:
            lines.append(f"{INDENT}could not read which ports the container listens on: {exc}")
            return "\n".join(lines)
        if not listening:
            lines.append(f"{INDENT}the container listens on no TCP port")
        else:
            shown = ", ".join(
                f"[{address}]:{listen_port}" if ":" in address else f"{address}:{listen_port}"
                for address, listen_port in listening
            )
            lines.append(f"{INDENT}the container listens on {shown}")
        loopback_only = [a for a, p in listening if p == port and a in ("127.0.0.1", "::1")]
        if loopback_only and len(loopback_only) == len([a for a, p in listening if p == port]):
            lines.append(
                f"{INDENT}it listens on {port} on loopback only: bind to 0.0.0.0 so the proxy reaches it"
            )
        else:
            lines.append(
                f"{INDENT}listen on $PORT in the app, or set the port: "
                f"dockyard config set {release.app} PORT=<port>"
            )
        return "\n".join(lines)

    def _switch(self, ctx: _Context, release: Release, containers: list[ContainerInfo]) -> None:
        backends = backends_of(containers, release.port)
        ctx.log(f"{ARROW}Switching traffic to {len(backends)} container(s)")
        try:
            self._routing.switch(release.app, backends)
        except BaseException:
            serving = {b.container_id for b in self._routing.backends(release.app)}
            self._remove_quietly(ctx, [c for c in containers if c.id not in serving])
            raise

    def _serving_containers(self, app: str, release: Release | None) -> list[ContainerInfo]:
        """The running web containers the proxy routes `app` to now."""
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

    def _retire(self, ctx: _Context, containers: list[ContainerInfo]) -> None:
        if containers:
            ctx.log(f"{ARROW}Retiring {len(containers)} old container(s)")
        for container in containers:
            self._runtime.remove_container(container.id, stop_timeout=self._settings.stop_timeout)

    def _remove_quietly(self, ctx: _Context, containers: list[ContainerInfo]) -> None:
        for container in containers:
            try:
                self._runtime.remove_container(container.id, stop_timeout=1)
            except DockyardError as exc:
                ctx.log(f"{FAIL}could not remove {container.name}: {exc}")

    def _prune(self, ctx: _Context, app: str, current: Release) -> None:
        keep = kept_images(
            self._store.list_releases(app), keep=self._settings.keep_releases, current=current.number
        )
        keep.add(current.image_id)
        try:
            removed = self._runtime.prune_images(app, keep)
        except DockyardError as exc:
            ctx.log(f"{FAIL}image cleanup skipped: {exc}")
            return
        if removed:
            ctx.log(f"{ARROW}Removed {len(removed)} image(s) older than the last {len(keep)} image(s)")

    @staticmethod
    def _check_cancel(ctx: _Context) -> None:
        if ctx.cancel.is_set():
            raise DeployCancelled("the deploy was cancelled")

    def _check_cancel_or_remove(self, ctx: _Context, started: list[ContainerInfo]) -> None:
        if ctx.cancel.is_set():
            self._remove_quietly(ctx, started)
            self._check_cancel(ctx)
