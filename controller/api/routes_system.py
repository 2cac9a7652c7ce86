"""Routes of the controller itself: disk usage and cleanup."""

from fastapi import APIRouter

from controller.api.auth import no_app, requires
from controller.api.deps import ServicesDep
from controller.domain.access import Action
from controller.services.hygiene import DiskReport, PruneReport

router = APIRouter(prefix="/api/v1/system", tags=["system"])


@router.get("/df", response_model=DiskReport, dependencies=[requires(Action.ADMINISTER, app=no_app)])
def disk_usage(services: ServicesDep) -> DiskReport:
    """What Dockyard's own images, containers and data dir take on disk."""
    return services.system.disk_usage()


@router.post("/prune", response_model=PruneReport, dependencies=[requires(Action.ADMINISTER, app=no_app)])
def prune(services: ServicesDep) -> PruneReport:
    """Remove Dockyard's images beyond each app's retention, of deleted apps, and dangling build layers."""
    return services.system.prune()
