"""The deploy pipeline: build, release, start, health-check, switch, drain, retire, prune.

Every kind of change (build, rollback, config, scale, restart, repair) is a deploy job that
runs through the same steps, one job at a time per app. Anything that fails before the
proxy switch leaves the serving containers and the proxy untouched. Other services run
their own kinds of job (certificate work) in the same queue through `handle` and
`request_job`. The parts, in the order a job meets them:

    service.py    DeployService: requests validated at once, queued as jobs
    intake.py     new jobs stored in batches; older builds and rollbacks superseded
    runner.py     a claimed job run with its kind's handler; cancel, timeouts, Docker retries
    kinds.py      the handler of each kind (build, rollback, config, scale, restart, repair)
    rollout.py    the rollout steps, top to bottom: build, release, start healthy, switch, retire, prune
    recovery.py   jobs a dead controller left running, interrupted and queued again
"""

from controller.services.deploys.jobs import PipelineSettings, SourceFetcher, new_deploy_id, new_queued
from controller.services.deploys.service import DeployService

__all__ = ["DeployService", "PipelineSettings", "SourceFetcher", "new_deploy_id", "new_queued"]
