"""Routes of the git side: SSH keys and app sources (admin), and the routes git-shell and the
pre-receive hook call with the hook token (`/api/v1/git/...`).
"""

import asyncio
import json
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool

from controller.api.auth import key_may, no_app, require_hook, requires
from controller.api.deps import ServicesDep
from controller.api.follow import deploy_log_lines
from controller.api.schemas_git import (
    GitInfoPublic,
    KeyCreate,
    KeyPublic,
    PushDeployRequest,
    PushPlanPublic,
    PushPlanRequest,
    RefUpdateBody,
    RepoAccessPublic,
    RepoAccessRequest,
    SourceUpdate,
)
from controller.domain.access import Action
from controller.domain.errors import InvalidInput
from controller.domain.git_refs import GitService, RefUpdate, parse_ref_updates
from controller.domain.models import Deploy
from controller.domain.names import validate_app_name
from controller.services.git_push import Pusher
from controller.wiring import Services

FOLLOW_POLL = 0.05
_bearer = HTTPBearer(auto_error=False)

admin = APIRouter(prefix="/api/v1", tags=["git"])


@admin.get("/keys", response_model=list[KeyPublic], dependencies=[requires(Action.ADMINISTER, app=no_app)])
def list_keys(services: ServicesDep) -> list[KeyPublic]:
    return [KeyPublic.model_validate(key) for key in services.git.keys.all()]


@admin.post(
    "/keys",
    response_model=KeyPublic,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires(Action.ADMINISTER, app=no_app)],
)
def add_key(body: KeyCreate, services: ServicesDep) -> KeyPublic:
    if body.user is not None:
        services.accounts.users.get(body.user)  # 404 for an unknown user
    return KeyPublic.model_validate(services.git.keys.add(body.name, body.public_key, owner=body.user))


@admin.delete(
    "/keys/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[requires(Action.ADMINISTER, app=no_app)],
)
def remove_key(name: str, services: ServicesDep) -> None:
    services.git.keys.remove(name)


@admin.get("/apps/{name}/source", response_model=GitInfoPublic, dependencies=[requires(Action.OPERATE)])
def app_source(name: str, services: ServicesDep) -> GitInfoPublic:
    """Git remotes, source repository, webhook URLs and secret, and recent deliveries."""
    services.apps.get(name)
    return GitInfoPublic.model_validate(services.git.sources.info(name))


@admin.put("/apps/{name}/source", response_model=GitInfoPublic, dependencies=[requires(Action.OPERATE)])
def set_app_source(name: str, body: SourceUpdate, services: ServicesDep) -> GitInfoPublic:
    services.apps.get(name)
    services.git.sources.set_source(
        name,
        repo_url=body.repo_url,
        branch=body.branch,
        token=body.token,
        new_deploy_key=body.new_deploy_key,
        new_webhook_secret=body.new_webhook_secret,
    )
    return GitInfoPublic.model_validate(services.git.sources.info(name))


hooks = APIRouter(prefix="/api/v1/git", tags=["git internal"], dependencies=[Depends(require_hook)])


def _audit_as(request: Request, pusher: Pusher | None) -> None:
    """The audit log names the pusher for a hook's call, not the hook token."""
    if pusher is not None:
        request.state.audit_as = pusher.actor
        request.state.audit_detail = pusher.via


@hooks.post("/apps/{name}/access", response_model=RepoAccessPublic)
def open_repo(
    name: str, body: RepoAccessRequest, request: Request, services: ServicesDep
) -> RepoAccessPublic:
    """May `service` run on the app's repo? Creates the app for a push when auto-create is on."""
    try:
        service = GitService(body.service)
    except ValueError:
        raise InvalidInput(f"unknown git service {body.service!r}") from None
    if body.key is not None:
        _audit_as(request, services.git.push.ssh_pusher(body.key))
        key_may(
            services, body.key, Action.OPERATE if service is GitService.RECEIVE_PACK else Action.READ, name
        )
    path = services.git.push.open_repo(name, service=service)
    ticket = None
    if service is GitService.RECEIVE_PACK and body.key is not None:
        ticket = services.git.push.ssh_push_ticket(name, body.key)
    return RepoAccessPublic(path=str(path), ticket=ticket)


@hooks.post("/apps/{name}/pushes", response_model=PushPlanPublic)
def plan_push(name: str, body: PushPlanRequest, request: Request, services: ServicesDep) -> PushPlanPublic:
    """What a push does: which update deploys, and what to tell the pusher about the others."""
    validate_app_name(name)
    _audit_as(request, services.git.push.pusher_of(name, body.ticket))
    services.apps.get(name)
    lines = "\n".join(f"{u.old} {u.new} {u.ref}" for u in body.updates)
    plan = services.git.push.plan(name, parse_ref_updates(lines))
    deploy = plan.deploy
    return PushPlanPublic(
        deploy=RefUpdateBody(old=deploy.old, new=deploy.new, ref=deploy.ref) if deploy else None,
        messages=list(plan.messages),
    )


@hooks.post("/apps/{name}/deploys")
async def deploy_push(
    name: str, body: PushDeployRequest, request: Request, services: ServicesDep
) -> StreamingResponse:
    """Deploy a pushed commit, which the controller reads from the app's repo itself, and stream
    the deploy as NDJSON.

    The hook only names the ref update, the push's ticket (from the authenticated git-shell or
    smart-HTTP session) and git's quarantine dir. Lines: `{"deploy": id}`, then `{"log": line}`
    as the deploy runs, then `{"status": ..., "error": ..., "urls": [...]}`.
    """
    validate_app_name(name)
    (update,) = _one_update(body.old, body.new, body.ref)
    await run_in_threadpool(services.apps.get, name)
    # Named before the ticket is used up, so a refused deploy is the pusher's too.
    _audit_as(request, services.git.push.pusher_of(name, body.ticket))
    pushed = await run_in_threadpool(
        partial(
            services.git.push.deploy_push, name, update=update, ticket=body.ticket, quarantine=body.quarantine
        )
    )
    deploy = pushed.deploy

    async def events() -> AsyncIterator[bytes]:
        yield _line({"deploy": deploy.id})
        async for batch in deploy_log_lines(services.logs, deploy.id, follow=True):
            yield b"".join(_line({"log": line}) for line in batch)
        final = await _final(services, deploy.id)
        urls = await run_in_threadpool(services.git.push.urls, name)
        yield _line({"status": final.status.value, "error": final.error, "urls": urls})

    return StreamingResponse(events(), media_type="application/x-ndjson")


def _one_update(old: str, new: str, ref: str) -> list[RefUpdate]:
    updates = parse_ref_updates(f"{old} {new} {ref}")
    if len(updates) != 1:
        raise InvalidInput("give exactly one ref update")
    return updates


async def _final(services: Services, deploy_id: str) -> Deploy:
    """The deploy once its log is complete; it may take a moment more to reach its final status."""
    deploy = await run_in_threadpool(services.history.get, deploy_id)
    for _ in range(200):
        if deploy.status.is_final:
            break
        await asyncio.sleep(FOLLOW_POLL)
        deploy = await run_in_threadpool(services.history.get, deploy_id)
    return deploy


def _line(data: dict[str, Any]) -> bytes:
    return (json.dumps(data) + "\n").encode()
