"""Push webhooks: verify a delivery, refuse replays, record it and queue its build job at once.

The request checks and parses the delivery, queues a build job whose context the job itself
fetches from the source repository when it runs, and durably records the delivery with its
job (its id guards against a provider's retries): every accepted delivery is a job in `deploys list` from the
moment it is answered, and a commit that cannot be fetched fails that job with the reason.
Jobs queued while the app deploys wait; only the newest queued build of an app runs (the
queue supersedes the others), so a burst builds once or twice.

A delivery id is not enough against replays (a captured body replayed with a new id):
a push of a commit delivered before that the app already runs, or that is older than the
branch head last delivered (from any provider: a body signed for one is signed for the others),
is refused unless the provider marks it as a force push from that head.
"""

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from controller.domain.errors import (
    Conflict,
    DeliveryReceived,
    DockyardError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
)
from controller.domain.git_records import DeliveryStatus, WebhookDelivery
from controller.domain.git_refs import validate_branch_name, validate_commit_sha
from controller.domain.webhooks import (
    MAX_BODY_BYTES,
    EventKind,
    Verdict,
    WebhookUnauthorized,
    decide,
    parse_event,
    parse_provider,
    signed_document,
    verify_signature,
)
from controller.services.deploys import DeployService
from controller.services.git_ports import Mirrors, UnpackTar
from controller.services.git_push import unpack_tree
from controller.services.git_sources import GitSourceService
from controller.services.ports import Store

logger = logging.getLogger(__name__)
ARROW = "-----> "


class WebhookOutcome(StrEnum):
    """What became of a delivery: a ping answered, a push queued, or ignored (with the reason)."""

    PONG = "pong"
    QUEUED = "queued"
    IGNORED = "ignored"


@dataclass(frozen=True)
class WebhookAnswer:
    """The answer to a delivery: its outcome and the body to send back."""

    outcome: WebhookOutcome
    body: dict[str, Any] = field(default_factory=dict)


class WebhookService:
    """`POST /hooks/{provider}/{app}`: check, queue the build job, record."""

    def __init__(
        self,
        *,
        store: Store,
        sources: GitSourceService,
        mirrors: Mirrors,
        deploys: DeployService,
        unpack: UnpackTar,
    ) -> None:
        self._store = store
        self._sources = sources
        self._mirrors = mirrors
        self._deploys = deploys
        self._unpack = unpack

    # -- intake ------------------------------------------------------------------------

    def receive(self, provider_name: str, app: str, headers: Mapping[str, str], body: bytes) -> WebhookAnswer:
        """Answer one delivery; only an accepted push changes anything (a delivery and its job).

        `headers` must have lowercase names. Raises NotFound (provider), PayloadTooLarge,
        WebhookUnauthorized (also for an app that does not exist), InvalidInput (malformed
        JSON) and Conflict (no source repo, or a replayed or stale push).
        """
        provider = parse_provider(provider_name)
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"webhook bodies are limited to {MAX_BODY_BYTES} bytes")
        signed, document = signed_document(provider, headers, body)
        try:
            source = self._sources.source(app)
        except NotFound:
            # The same 401 as a wrong signature: the endpoint does not tell which apps exist.
            verify_signature(provider, headers, signed, secrets.token_hex(32))
            raise WebhookUnauthorized("the signature does not match") from None
        verify_signature(provider, headers, signed, source.webhook_secret)
        event = parse_event(provider, headers, document)
        if event.kind is EventKind.PING:
            return WebhookAnswer(WebhookOutcome.PONG, {"status": "pong", "app": app})
        verdict = decide(event, source.branch)
        if verdict.commit is None:
            return WebhookAnswer(WebhookOutcome.IGNORED, {"status": "ignored", "reason": verdict.reason})
        if source.repo_url is None:
            raise Conflict(
                f"app {app!r} has no source repository: set it with `dockyard apps source {app} --repo URL`"
            )
        if self._store.find_webhook_delivery(app, provider.value, event.delivery_id) is not None:
            return _already_received(event.delivery_id)
        self._refuse_replay(app, source.branch, verdict)
        delivery = WebhookDelivery(
            app=app,
            provider=provider.value,
            delivery_id=event.delivery_id,
            branch=source.branch,
            commit=verdict.commit,
            received_at=datetime.now(UTC),
            status=DeliveryStatus.QUEUED,
        )
        try:  # the job and the delivery's row in one transaction (one commit to wait for)
            deploy = self._deploys.request_fetched_build(
                app,
                source={"commit": verdict.commit, "branch": source.branch, "delivery": event.delivery_id},
                description=f"{provider.value} push {verdict.commit[:12]} ({source.branch})",
                delivery=delivery,
            )
        except DeliveryReceived:  # the same delivery arrived at the same moment
            return _already_received(event.delivery_id)
        return WebhookAnswer(
            WebhookOutcome.QUEUED,
            {
                "status": "queued",
                "reason": verdict.reason,
                "commit": verdict.commit,
                "delivery": event.delivery_id,
                "deploy": deploy.id,
            },
        )

    def _refuse_replay(self, app: str, branch: str, verdict: Verdict) -> None:
        """Refuse the app's running commit, and one older than the branch head last seen.

        A force push the provider marks as such passes, if it moves the head last seen (a
        replayed old force push names an older `before`).

        Raises:
            Conflict: the push looks like a replay of an older delivery.
        """
        commit = verdict.commit
        assert commit is not None
        # From any provider: a body captured from one is validly signed for the others (the same
        # HMAC of the same secret).
        if not self._store.webhook_commit_seen(app, branch, commit):
            return  # a replayed body names a commit delivered before; a new one is no replay
        last = self._store.last_webhook_delivery(app, branch)
        real_force = verdict.forced and (last is None or verdict.before in (None, last.commit))
        if real_force:
            return
        if commit == self._deployed_commit(app):
            raise Conflict(
                f"{app} already runs {commit[:12]}: a push of it again is a replay "
                "(a force push is not refused)"
            )
        if last is None or last.commit == commit:
            return
        if self._mirrors.is_ancestor(app, commit, last.commit):
            raise Conflict(
                f"{commit[:12]} is older than {last.commit[:12]}, the head of {branch} last pushed "
                f"(from {last.provider}): a replayed delivery is not deployed (a force push is not refused)"
            )

    def _deployed_commit(self, app: str) -> str | None:
        """The commit of the webhook build whose image the app runs now, if a webhook built it."""
        current = self._store.get_app(app).current_release
        if current is None:
            return None
        image = self._store.get_release(app, current).image_id
        builds = [r for r in self._store.list_releases(app) if r.image_id == image]
        first = min(builds, key=lambda r: r.number)  # config releases reuse the built image
        delivery = self._store.webhook_delivery_of_deploy(app, first.deploy_id)
        return delivery.commit if delivery is not None else None

    def _queue_job(self, delivery: WebhookDelivery) -> None:
        """Queue the build job of a delivery a dead controller recorded without one."""
        assert delivery.seq is not None
        try:
            deploy = self._deploys.request_fetched_build(
                delivery.app,
                source={
                    "commit": delivery.commit,
                    "branch": delivery.branch,
                    "delivery": delivery.delivery_id,
                },
                description=f"{delivery.provider} push {delivery.commit[:12]} ({delivery.branch})",
            )
        except DockyardError as exc:
            logger.warning("webhook delivery %s of %s: no job: %s", delivery.delivery_id, delivery.app, exc)
            self._store.finish_webhook_deliveries(
                [delivery.seq], status=DeliveryStatus.FAILED, error=str(exc)
            )
            raise
        self._store.finish_webhook_deliveries(
            [delivery.seq], status=DeliveryStatus.QUEUED, deploy_id=deploy.id
        )

    # -- start-up and the jobs ---------------------------------------------------------

    def start(self) -> None:
        """Queue the jobs of deliveries a dead controller recorded but left without one."""
        self.queue_pending()

    def stop(self) -> None:
        pass

    def queue_pending(self) -> None:
        """Each app's newest pending delivery gets its job; older ones are superseded."""
        pending = self._store.pending_webhook_deliveries()
        newest: dict[str, WebhookDelivery] = {}
        for delivery in pending:
            newest[delivery.app] = delivery
        superseded = [d.seq for d in pending if d.seq is not None and newest[d.app] is not d]
        if superseded:
            self._store.finish_webhook_deliveries(superseded, status=DeliveryStatus.SUPERSEDED)
        for delivery in newest.values():
            try:
                self._queue_job(delivery)
            except DockyardError:
                continue

    def fetch_source(self, app: str, source: dict[str, Any], dest: Path, log: Callable[[str], None]) -> str:
        """Fill a build job's empty context with the tree of a delivery's commit (the job's fetcher).

        A job without a commit (a redeploy) builds the head of its branch as it is now.

        Raises:
            SourceUnavailable: the commit (or the branch) cannot be fetched.
            InvalidInput: no source repository any more, or no Dockerfile in the tree.
        """
        branch = validate_branch_name(str(source.get("branch", "")))
        settings = self._sources.source(app)
        if settings.repo_url is None:
            raise InvalidInput(f"app {app!r} has no source repository any more")
        auth = self._sources.fetch_auth(settings)
        if source.get("commit") is None:
            log(f"{ARROW}Fetching the head of {branch} from {settings.repo_url}")
            commit = self._mirrors.fetch_head(app, url=settings.repo_url, branch=branch, auth=auth)
            log(f"{ARROW}{branch} is at {commit[:12]}")
        else:
            commit = validate_commit_sha(str(source["commit"]))
            log(f"{ARROW}Fetching {commit[:12]} ({branch}) from {settings.repo_url}")
            self._mirrors.fetch(app, url=settings.repo_url, branch=branch, commit=commit, auth=auth)
        return unpack_tree(self._unpack, self._mirrors.archive(app, commit), commit, dest)


def _already_received(delivery_id: str) -> WebhookAnswer:
    return WebhookAnswer(
        WebhookOutcome.IGNORED,
        {"status": "ignored", "reason": f"delivery {delivery_id} was already received"},
    )
