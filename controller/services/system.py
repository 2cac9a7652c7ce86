"""The controller itself: is it healthy, what it takes on disk, and cleaning up after it."""

from dataclasses import dataclass
from datetime import datetime

from controller.domain.errors import DockyardError
from controller.services.hygiene import DiskReport, Hygiene, PruneReport
from controller.services.ports import Runtime
from controller.services.reconciler import Reconciler


@dataclass(frozen=True)
class SystemHealth:
    """`GET /api/v1/health`: whether Docker answers and when state was last reconciled."""

    docker: bool
    reconciled_at: datetime | None


class SystemService:
    """Health, disk usage and pruning of what Dockyard owns."""

    def __init__(self, *, runtime: Runtime, hygiene: Hygiene, reconciler: Reconciler) -> None:
        self._runtime = runtime
        self._hygiene = hygiene
        self._reconciler = reconciler

    def health(self) -> SystemHealth:
        try:
            self._runtime.ping()
            docker_ok = True
        except DockyardError:
            docker_ok = False
        return SystemHealth(docker=docker_ok, reconciled_at=self._reconciler.last_pass)

    def disk_usage(self) -> DiskReport:
        return self._hygiene.disk_usage()

    def prune(self) -> PruneReport:
        return self._hygiene.prune()
