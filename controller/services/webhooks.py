"""Push webhooks: verify and record a delivery at once, then fetch its commit and queue its deploy.

The request only checks, parses and durably records (the delivery id doubles as replay
protection); a single background dispatcher fetches commits into the app's mirror and
queues builds. While an app has a deploy queued or running, its deliveries wait; when it
is done only the newest waiting one is built, so a burst builds once or twice, not once
per delivery.
"""

import logging
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from controller.domain.errors import (
    Conflict,
    DockyardError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    RuntimeUnavailable,
)
from controller.domain.git_records import DeliveryStatus, WebhookDelivery
from controller.domain.webhooks import (
    MAX_BODY_BYTES,
    EventKind,
    WebhookUnauthorized,
    decide,
    parse_event,
    parse_provider,
    signed_document,
    verify_signature,
)
from controller.services.batching import BatchWriter
from controller.services.deploys import DeployService
from controller.services.git_ports import Mirrors, UnpackTar
from controller.services.git_sources import GitSourceService
from controller.services.ports import Store

logger = logging.getLogger(__name__)
RETRY_INTERVAL = 5.0  # Docker unreachable
BUSY_POLL = 0.25  # an app with waiting deliveries still has a deploy queued or running


@dataclass(frozen=True)
class WebhookAnswer:
    """The HTTP answer to a delivery: 200 for a ping, 202 queued or ignored (with the reason)."""

    status_code: int
    body: dict[str, Any] = field(default_factory=dict)


class WebhookService:
    """`POST /hooks/{provider}/{app}`: check, record, and (in the background) deploy."""

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
        # Deliveries of concurrent requests are recorded together (one transaction a batch).
        self._recorder: BatchWriter[WebhookDelivery, WebhookDelivery | None] = BatchWriter(
            store.add_webhook_deliveries, name="dockyard-webhook-intake"
        )
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- intake ------------------------------------------------------------------------

    def receive(self, provider_name: str, app: str, headers: Mapping[str, str], body: bytes) -> WebhookAnswer:
        """Answer one delivery; only an accepted push changes anything (one pending delivery).

        `headers` must have lowercase names. Raises NotFound (provider or app), PayloadTooLarge,
        WebhookUnauthorized, InvalidInput (malformed JSON) and Conflict (no source repo).
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
            return WebhookAnswer(200, {"status": "pong", "app": app})
        verdict = decide(event, source.branch)
        if verdict.commit is None:
            return WebhookAnswer(202, {"status": "ignored", "reason": verdict.reason})
        if source.repo_url is None:
            raise Conflict(
                f"app {app!r} has no source repository: set it with `dockyard apps source {app} --repo URL`"
            )
        recorded = self._recorder.submit(
            WebhookDelivery(
                app=app,
                provider=provider.value,
                delivery_id=event.delivery_id,
                branch=source.branch,
                commit=verdict.commit,
                received_at=datetime.now(UTC),
            )
        ).result()
        if recorded is None:
            reason = f"delivery {event.delivery_id} was already received"
            return WebhookAnswer(202, {"status": "ignored", "reason": reason})
        self._wake.set()
        return WebhookAnswer(
            202,
            {
                "status": "queued",
                "reason": verdict.reason,
                "commit": verdict.commit,
                "delivery": event.delivery_id,
            },
        )

    # -- the dispatcher ------------------------------------------------------------------

    def start(self) -> None:
        """Start dispatching, beginning with deliveries a previous run left pending."""
        self._wake.set()
        self._thread = threading.Thread(target=self._loop, name="dockyard-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def dispatch_pending(self) -> float | None:
        """Handle what is pending now; returns when to look again (None: at the next delivery).

        Only each app's newest delivery is built; older ones are superseded. An app with a
        deploy queued or running keeps its newest delivery waiting until that deploy is done.
        """
        pending = self._store.pending_webhook_deliveries()
        newest: dict[str, WebhookDelivery] = {}
        for delivery in pending:
            newest[delivery.app] = delivery
        superseded = [d.seq for d in pending if d.seq is not None and newest[d.app] is not d]
        if superseded:
            self._store.finish_webhook_deliveries(superseded, status=DeliveryStatus.SUPERSEDED)
        busy = {deploy.app for deploy in self._store.unfinished_deploys()} if newest else set()
        again: float | None = BUSY_POLL if busy & set(newest) else None
        for delivery in newest.values():
            if self._stopping.is_set():
                return None
            if delivery.app not in busy and not self._deploy(delivery):
                again = RETRY_INTERVAL
        return again

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                again = self.dispatch_pending()
            except Exception:
                logger.exception("webhook dispatch failed")
                again = RETRY_INTERVAL
            if again is not None:
                self._stopping.wait(again)
                self._wake.set()

    def _deploy(self, delivery: WebhookDelivery) -> bool:
        """Fetch the delivery's commit and queue its build; False when it must wait for Docker."""
        assert delivery.seq is not None
        commit = delivery.commit
        try:
            source = self._sources.source(delivery.app)
            if source.repo_url is None:
                raise InvalidInput(f"app {delivery.app!r} has no source repository any more")
            self._mirrors.fetch(
                delivery.app,
                url=source.repo_url,
                branch=delivery.branch,
                commit=commit,
                auth=self._sources.fetch_auth(source),
            )

            def unpack(dest: Path) -> str:
                digest = self._unpack(self._mirrors.archive(delivery.app, commit), dest)
                if not (dest / "Dockerfile").is_file():
                    raise InvalidInput(f"commit {commit[:12]} has no Dockerfile at the top of the repository")
                return digest

            deploy = self._deploys.request_build(
                delivery.app,
                unpack=unpack,
                description=f"{delivery.provider} push {commit[:12]} ({delivery.branch})",
            )
        except RuntimeUnavailable:
            return False
        except DockyardError as exc:
            logger.warning("webhook delivery %s of %s failed: %s", delivery.delivery_id, delivery.app, exc)
            self._store.finish_webhook_deliveries(
                [delivery.seq], status=DeliveryStatus.FAILED, error=str(exc)
            )
            return True
        except Exception as exc:
            logger.exception("webhook delivery %s of %s crashed", delivery.delivery_id, delivery.app)
            error = f"internal error: {exc!r}"
            self._store.finish_webhook_deliveries([delivery.seq], status=DeliveryStatus.FAILED, error=error)
            return True
        self._store.finish_webhook_deliveries(
            [delivery.seq], status=DeliveryStatus.QUEUED, deploy_id=deploy.id
        )
        return True
