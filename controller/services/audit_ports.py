"""What a service needs to record in the audit log (`AuditLog` is the one implementation)."""

from typing import Protocol

# The actor of what the controller does by itself: repairs, restarts in place, orphans removed.
RECONCILER = "reconciler"


class AuditRecorder(Protocol):
    """Where a service records what it changed (`AuditLog.record`)."""

    def record(
        self,
        *,
        actor: str,
        action: str,
        outcome: str,
        app: str | None = None,
        source: str | None = None,
        detail: str = "",
    ) -> None: ...
