"""Running claimed jobs: look the kind's handler up, retry Docker outages, cancel on request or
timeout, and record how the job ended."""

import logging
import threading
import time
from dataclasses import replace
from typing import Any

from controller.domain.errors import (
    Conflict,
    DeployCancelled,
    DockyardError,
    InvalidInput,
    RuntimeUnavailable,
)
from controller.domain.models import Deploy, DeployKind, DeployStatus
from controller.services.deploy_logs import DeployLogHub
from controller.services.deploys.announcer import DeployAnnouncer
from controller.services.deploys.jobs import ARROW, FAIL, PipelineSettings
from controller.services.ports import BuildContexts, Store
from controller.services.queue import JobContext, JobHandler

logger = logging.getLogger(__name__)
TIMEOUT_CHECK = 1.0  # seconds between checks of the running jobs' timeouts


class JobRunner:
    """Runs one claimed job at a time per call (on the dispatcher's workers) with the handler
    its kind has in `handlers`."""

    def __init__(
        self,
        *,
        store: Store,
        logs: DeployLogHub,
        contexts: BuildContexts,
        announcer: DeployAnnouncer,
        handlers: dict[DeployKind, JobHandler],
        settings: PipelineSettings,
    ) -> None:
        self._store = store
        self._logs = logs
        self._contexts = contexts
        self._announcer = announcer
        self._handlers = handlers
        self._settings = settings
        self._cancels: dict[str, threading.Event] = {}
        self._deadlines: dict[str, float] = {}  # running deploy -> when its job timeout ends
        self._stopping = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._enforce_timeouts, name="dockyard-job-timeouts", daemon=True).start()

    def stop(self) -> None:
        """Ask every running job to stop at its next step."""
        self._stopping.set()
        for event in list(self._cancels.values()):
            event.set()

    def cancel(self, deploy_id: str) -> Deploy:
        """Cancel a queued deploy at once, or ask a running one to stop before it switches."""
        deploy = self._store.get_deploy(deploy_id)
        if deploy.status is DeployStatus.QUEUED and self._store.claim_deploy(
            deploy_id, DeployStatus.CANCELLED, error="cancelled before it started"
        ):
            self._logs.append(deploy_id, FAIL + "cancelled before it started")
            self._logs.finish(deploy_id)
            self._contexts.discard(deploy_id)
            self._announcer.publish(deploy_id)
            return self._store.get_deploy(deploy_id)
        event = self._cancels.get(deploy_id)
        if event is None:
            raise Conflict(f"deploy {deploy_id} is {self._store.get_deploy(deploy_id).status.value}")
        event.set()
        return self._store.get_deploy(deploy_id)

    def execute(self, deploy: Deploy, params: dict[str, Any]) -> None:
        """Run one claimed deploy (on a dispatcher worker)."""
        cancel = threading.Event()
        self._cancels[deploy.id] = cancel
        self._deadlines[deploy.id] = time.monotonic() + self._settings.job_timeout

        def log(line: str) -> None:
            self._logs.append(deploy.id, line)

        try:
            self._run(JobContext(job=deploy, params=params, log=log, cancel=cancel))
        finally:
            self._deadlines.pop(deploy.id, None)
            self._cancels.pop(deploy.id, None)
            if deploy.kind is DeployKind.BUILD:
                self._contexts.discard(deploy.id)

    def _run(self, ctx: JobContext) -> None:
        deploy_id = ctx.job.id
        self._announcer.publish(replace(ctx.job, status=DeployStatus.RUNNING))  # claimed: running now
        ctx.log(f"{ARROW}{ctx.job.kind.value} of {ctx.job.app}: {ctx.job.description}")
        final: Deploy | None = None  # as stored at the end: what the event says
        try:
            self._with_docker_retries(ctx, self._handler(ctx.job.kind))
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
            self._announcer.publish(final or deploy_id)

    def _handler(self, kind: DeployKind) -> JobHandler:
        handler = self._handlers.get(kind)
        if handler is not None:
            return handler

        def unhandled(ctx: JobContext) -> None:
            raise InvalidInput(f"no handler for {kind.value} jobs")

        return unhandled

    def _with_docker_retries(self, ctx: JobContext, handler: JobHandler) -> None:
        """Docker being briefly unreachable is retried with backoff; other errors fail at once."""
        delay = self._settings.docker_retry_delay
        for attempt in range(1, self._settings.docker_retries + 1):
            try:
                handler(ctx)
                return
            except RuntimeUnavailable as exc:
                if attempt == self._settings.docker_retries:
                    raise
                ctx.log(f"{FAIL}{exc}; trying again in {delay:.0f} s")
                if ctx.cancel.wait(delay):
                    raise DeployCancelled("the deploy was cancelled") from exc
                delay *= 2

    def _enforce_timeouts(self) -> None:
        """Cancel the running jobs whose time is up (one thread, not a timer per job)."""
        while not self._stopping.wait(TIMEOUT_CHECK):
            now = time.monotonic()
            for deploy_id, deadline in list(self._deadlines.items()):
                cancel = self._cancels.get(deploy_id)
                if now >= deadline and cancel is not None and not cancel.is_set():
                    logger.warning("deploy %s ran out of time; cancelling it", deploy_id)
                    cancel.set()
