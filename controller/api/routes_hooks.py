"""`POST /hooks/{provider}/{app}`: push webhooks of GitHub, GitLab, Gitea/Forgejo and Bitbucket.

No bearer token: each delivery is authenticated by its provider's signature (or token)
made with the app's webhook secret.
"""

from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from controller.api.bodies import read_limited
from controller.api.deps import ServicesDep
from controller.domain.names import validate_app_name
from controller.domain.webhooks import MAX_BODY_BYTES, parse_provider
from controller.services.webhooks import WebhookOutcome

router = APIRouter(tags=["webhooks"])


@router.post(
    "/hooks/{provider}/{app}",
    responses={
        200: {"description": "a ping"},
        202: {"description": "a push queued for deploy, or ignored with the reason"},
        400: {"description": "malformed JSON"},
        401: {"description": "missing or wrong signature / token, or no such app"},
        404: {"description": "unknown provider"},
        409: {"description": "the app has no source repository"},
        413: {"description": "body over 1 MiB"},
    },
)
async def receive_webhook(provider: str, app: str, request: Request, services: ServicesDep) -> JSONResponse:
    """Verify a delivery against the app's webhook secret; a push to its branch queues a deploy."""
    parse_provider(provider)
    validate_app_name(app)
    body = await read_limited(request, MAX_BODY_BYTES)
    headers = {name.lower(): value for name, value in request.headers.items()}
    answer = await run_in_threadpool(services.git.webhooks.receive, provider, app, headers, body)
    content: dict[str, Any] = answer.body
    status_code = status.HTTP_200_OK if answer.outcome is WebhookOutcome.PONG else status.HTTP_202_ACCEPTED
    return JSONResponse(content, status_code=status_code)
