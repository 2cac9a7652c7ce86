"""The audit log: every change, whoever made it, appended by one writer thread in batches.

Recording never blocks a request on the database; a query first waits for what was
recorded before it. So an event handed to the writer after the answer is lost if the
controller dies before the writer's next transaction; a config change's event is not handed
to it: the intake stores it with the change's job, in one transaction, before the 202.
Events older than the retention (`DOCKYARD_AUDIT_DAYS`) are pruned at start and daily.
"""

import logging
import threading
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta

from controller.domain.account_records import AuditEvent, AuditQuery
from controller.services.account_ports import AccountStore
from controller.services.batching import BatchWriter

logger = logging.getLogger(__name__)
PRUNE_INTERVAL = 24 * 3600.0
FLUSH_TIMEOUT = 10.0
DETAIL_MAX = 1000


def audit_event(
    *, actor: str, action: str, outcome: str, app: str | None, source: str | None, detail: str
) -> AuditEvent:
    """An event stamped now, each field cut to what the table holds."""
    return AuditEvent(
        at=datetime.now(UTC),
        actor=actor[:255],
        action=action[:255],
        app=app[:64] if app else None,
        outcome=outcome[:32],
        source=source[:255] if source else None,
        detail=detail[:DETAIL_MAX],
    )


class AuditLog:
    def __init__(self, *, store: AccountStore, retention_days: int) -> None:
        self._store = store
        self._retention = timedelta(days=retention_days)
        self._writer: BatchWriter[AuditEvent, None] = BatchWriter(self._write, name="dockyard-audit")
        self._last: Future[None] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def _write(self, events: list[AuditEvent]) -> list[None]:
        self._store.add_audit_events(events)
        return [None] * len(events)

    def record(
        self,
        *,
        actor: str,
        action: str,
        outcome: str,
        app: str | None = None,
        source: str | None = None,
        detail: str = "",
    ) -> None:
        event = audit_event(
            actor=actor, action=action, outcome=outcome, app=app, source=source, detail=detail
        )
        with self._lock:
            self._last = self._writer.submit(event)

    def flush(self) -> None:
        """Wait until every event recorded so far is written."""
        with self._lock:
            last = self._last
        if last is not None:
            try:
                last.result(timeout=FLUSH_TIMEOUT)
            except Exception as failure:  # logged by the writer; the query shows what is there
                logger.debug("audit flush: %s", failure)

    def query(self, query: AuditQuery) -> list[AuditEvent]:
        self.flush()
        return self._store.query_audit(query)

    def prune(self) -> int:
        return self._store.prune_audit(datetime.now(UTC) - self._retention)

    def start(self) -> None:
        threading.Thread(target=self._prune_loop, name="dockyard-audit-prune", daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()
        self.flush()

    def _prune_loop(self) -> None:
        while True:
            try:
                self.prune()
            except Exception:
                logger.exception("pruning the audit log failed")
            if self._stopping.wait(PRUNE_INTERVAL):
                return
