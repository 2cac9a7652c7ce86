"""What every part of the deploy pipeline shares: its settings, log prefixes, new jobs, cancel checks."""

import random
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from controller.domain.errors import DeployCancelled
from controller.domain.models import Deploy, DeployKind, DeployStatus
from controller.services.queue import JobContext

ARROW = "-----> "
INDENT = "       "
FAIL = " !     "
# Of an app's queued jobs of these kinds only the newest runs (see JobIntake.supersede_older).
SUPERSEDING = (DeployKind.BUILD, DeployKind.ROLLBACK)
# Fills an empty build context for a build queued with `request_fetched_build` (a webhook push
# fetched from its source repository) and returns its digest: (app, source, dest, log) -> digest.
SourceFetcher = Callable[[str, dict[str, Any], Path, Callable[[str], None]], str]


@dataclass(frozen=True)
class PipelineSettings:
    """The knobs of the pipeline, taken from the controller's settings."""

    instance: str
    network: str
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


def check_cancel(ctx: JobContext) -> None:
    """Raises DeployCancelled once the job was asked to stop (checked between steps)."""
    if ctx.cancel.is_set():
        raise DeployCancelled("the deploy was cancelled")
