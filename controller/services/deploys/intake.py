"""Job intake: new jobs are stored in batches, announced, handed to the dispatcher, and
older builds and rollbacks of the same app are superseded."""

import logging
from collections import Counter
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

from controller.domain.account_records import AuditEvent
from controller.domain.errors import DockyardError, NotFound
from controller.domain.git_records import WebhookDelivery
from controller.domain.models import Deploy, DeployKind, DeployStatus
from controller.services.batching import BatchWriter
from controller.services.deploy_logs import DeployLogHub
from controller.services.deploys.announcer import DeployAnnouncer
from controller.services.deploys.jobs import ARROW, SUPERSEDING, new_queued
from controller.services.ports import BuildContexts, Store
from controller.services.queue import Dispatcher

logger = logging.getLogger(__name__)
# A new deploy, its params, and the webhook delivery and the audit event of the request that
# asked for it (recorded with it).
_Item = tuple[Deploy, dict[str, Any], WebhookDelivery | None, AuditEvent | None]


class JobIntake:
    """Stores new queued jobs (those of concurrent requests in one transaction) and lets them run."""

    def __init__(
        self,
        *,
        store: Store,
        logs: DeployLogHub,
        contexts: BuildContexts,
        announcer: DeployAnnouncer,
        dispatcher: Dispatcher,
    ) -> None:
        self._store = store
        self._logs = logs
        self._contexts = contexts
        self._announcer = announcer
        self._dispatcher = dispatcher
        self._writer: BatchWriter[_Item, Deploy] = BatchWriter(self._store_batch, name="dockyard-intake")

    def queue(
        self,
        app: str,
        kind: DeployKind,
        params: dict[str, Any],
        description: str,
        *,
        deploy_id: str | None = None,
        attempt: int = 1,
        delivery: WebhookDelivery | None = None,
    ) -> Deploy:
        """Queue a job and return it once it is stored (raises what the store refused it with).

        The webhook `delivery` that asked for the job is recorded with it (one transaction).
        """
        deploy = new_queued(app, kind, description, deploy_id=deploy_id, attempt=attempt)
        recorded = replace(delivery, deploy_id=deploy.id) if delivery is not None else None
        return self.submit(deploy, params, recorded).result()

    def submit(
        self,
        deploy: Deploy,
        params: dict[str, Any],
        delivery: WebhookDelivery | None = None,
        *,
        audit: AuditEvent | None = None,
    ) -> "Future[Deploy]":
        """Hand a new queued deploy to the intake; the future completes once it is stored
        (with the `audit` event of the request, in the same transaction)."""
        # Before the dispatcher can see it, so followers miss nothing; a new job's log is empty.
        self._logs.open(deploy.id, new=True)
        return self._writer.submit((deploy, params, delivery, audit))

    def _store_batch(self, batch: list[_Item]) -> list[Deploy | DockyardError]:
        """Store the new deploys of concurrent requests at once (on the intake thread).

        A refused deploy's log and build context are dropped before its request hears of it.
        """
        try:
            errors = self._store.create_deploys(
                [(deploy, params) for deploy, params, _, _ in batch],
                deliveries=[delivery for _, _, delivery, _ in batch],
                audits=[audit for _, _, _, audit in batch],
            )
        except BaseException:
            for deploy, _, _, _ in batch:
                self._refused(deploy.id)
            raise
        outcomes: list[Deploy | DockyardError] = []
        accepted: list[Deploy] = []
        for (deploy, _, _, _), error in zip(batch, errors, strict=True):
            if error is not None:
                self._refused(deploy.id)
                outcomes.append(error)
                continue
            accepted.append(deploy)
            outcomes.append(deploy)
        self._accepted(accepted)
        return outcomes

    def _refused(self, deploy_id: str) -> None:
        self._logs.discard(deploy_id)
        self._contexts.discard(deploy_id)

    def _accepted(self, batch: list[Deploy]) -> None:
        """New deploys are stored: announce them and let them run.

        Superseding looks at all of an app's queued builds at once, so once per app and batch
        is enough (a burst of webhook deliveries makes one job each).
        """
        superseding: dict[str, Deploy] = {}
        for deploy in batch:
            try:
                self._announcer.publish(deploy)
            except Exception:
                logger.exception("deploy %s is stored, but announcing it failed", deploy.id)
            if deploy.kind in SUPERSEDING:
                superseding[deploy.app] = deploy
        for app, count in Counter(deploy.app for deploy in batch).items():
            try:
                if app in superseding:
                    self.supersede_older(superseding[app])
                self._dispatcher.queued(app, count)
            except Exception:
                logger.exception("deploys of %s are stored, but announcing them failed", app)

    def supersede_older(self, newer: Deploy) -> None:
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
        self._supersede([d for d in queued if d.id != newest.id], f"superseded by deploy {newest.id}")
        if running is not None and newest.id != running.id and self._same_commit(newest, running):
            # A webhook delivered again while its commit builds: that build is the answer.
            self._supersede([newest], f"deploy {running.id} is building the same commit")

    def _supersede(self, deploys: list[Deploy], reason: str) -> None:
        older = {d.id: d for d in deploys}
        if not older:
            return
        for claimed in self._store.claim_deploys(list(older), DeployStatus.SUPERSEDED, error=reason):
            self._logs.append(claimed, ARROW + reason)
            self._logs.finish(claimed)
            self._contexts.discard(claimed)
            self._announcer.publish(replace(older[claimed], status=DeployStatus.SUPERSEDED, error=reason))

    def _same_commit(self, newer: Deploy, running: Deploy) -> bool:
        """Both are builds of the same fetched commit of the same branch (a redeploy of a
        branch head, which names no commit, is never the same)."""
        if newer.kind is not DeployKind.BUILD or running.kind is not DeployKind.BUILD:
            return False

        def commit_of(deploy: Deploy) -> tuple[Any, Any] | None:
            try:
                source = self._store.get_deploy_params(deploy.id).get("source")
            except NotFound:
                return None
            if not isinstance(source, dict) or not source.get("commit"):
                return None
            return source["commit"], source.get("branch")

        mine = commit_of(newer)
        return mine is not None and mine == commit_of(running)
