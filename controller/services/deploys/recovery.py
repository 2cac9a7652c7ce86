"""Jobs a dead controller left running: marked interrupted, and queued again once."""

import logging

from controller.domain.errors import DockyardError
from controller.domain.models import Deploy, DeployKind, DeployStatus
from controller.services.deploy_logs import DeployLogHub
from controller.services.deploys.intake import JobIntake
from controller.services.deploys.jobs import ARROW, FAIL, new_deploy_id
from controller.services.ports import BuildContexts, Store

logger = logging.getLogger(__name__)


def recover_interrupted(
    *, store: Store, logs: DeployLogHub, contexts: BuildContexts, intake: JobIntake, requeue: int
) -> None:
    """Interrupt the deploys left running, queue each again while its attempts are at most
    `requeue`, reopen the logs of the queued ones, and drop build contexts nothing needs."""
    for deploy in store.unfinished_deploys():
        if deploy.status is DeployStatus.QUEUED:
            logs.open(deploy.id)
            continue
        logs.append(deploy.id, FAIL + "interrupted: the controller stopped during this deploy")
        store.update_deploy(deploy.id, status=DeployStatus.INTERRUPTED, error="the controller stopped")
        logs.finish(deploy.id)
        if deploy.attempt > requeue:
            contexts.discard(deploy.id)
            continue
        _queue_again(deploy, store=store, logs=logs, contexts=contexts, intake=intake)
    contexts.discard_all_except({d.id for d in store.unfinished_deploys()})


def _queue_again(
    deploy: Deploy, *, store: Store, logs: DeployLogHub, contexts: BuildContexts, intake: JobIntake
) -> None:
    """The retry of an interrupted deploy; an uploaded build takes its context along (if any is left)."""
    retry_id = new_deploy_id()
    params = store.get_deploy_params(deploy.id)
    fetched = "source" in params  # the retry fetches its source again
    if deploy.kind is DeployKind.BUILD and not fetched:
        if not contexts.exists(deploy.id):
            return
        contexts.move(deploy.id, retry_id)
    try:
        retry = intake.queue(
            deploy.app,
            deploy.kind,
            params,
            deploy.description,
            deploy_id=retry_id,
            attempt=deploy.attempt + 1,
        )
    except DockyardError as exc:
        logger.warning("could not queue deploy %s again: %s", deploy.id, exc)
        return
    logs.append(deploy.id, f"{ARROW}queued again as deploy {retry.id}")
