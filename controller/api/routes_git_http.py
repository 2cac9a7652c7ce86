"""The smart-HTTP git remote at `/git/<app>.git`: Basic auth with an API token as the password,
then `git http-backend` streams its answer (the build log of a push included) as it comes.
"""

import base64
import binascii
import re
from functools import partial

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from controller.api.auth import principal_of_secret
from controller.api.deps import ServicesDep
from controller.api.errors import http_status
from controller.domain.access import Action, authorize
from controller.domain.errors import DockyardError
from controller.domain.git_refs import GitService
from controller.domain.names import validate_app_name
from controller.services.git_http import GitHttpRequest
from controller.services.git_push import Pusher

router = APIRouter(tags=["git"])
REALM = 'Basic realm="Dockyard git", charset="UTF-8"'
_USER_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _service_of(method: str, rest: str, request: Request) -> GitService | None:
    """Only the smart protocol: `info/refs?service=...` and the two POST endpoints."""
    if method == "GET" and rest == "info/refs":
        wanted = request.query_params.get("service", "")
    elif method == "POST" and rest in ("git-upload-pack", "git-receive-pack"):
        wanted = rest
    else:
        return None
    return GitService(wanted) if wanted in {s.value for s in GitService} else None


@router.api_route("/git/{repo}/{rest:path}", methods=["GET", "POST"], include_in_schema=False)
async def smart_http(repo: str, rest: str, request: Request, services: ServicesDep) -> Response:
    credentials = _basic_credentials(request)
    try:
        principal = await principal_of_secret(services, credentials[1] if credentials else None)
    except HTTPException:
        return PlainTextResponse(
            "Dockyard: give an API token as the password (https://user:TOKEN@host/git/app.git)\n",
            status_code=401,
            headers={"WWW-Authenticate": REALM},
        )
    request.state.principal = principal
    service = _service_of(request.method, rest, request)
    if not repo.endswith(".git") or service is None:
        return PlainTextResponse("Dockyard serves only the smart HTTP protocol at /git/<app>.git\n", 404)
    app = repo[: -len(".git")]
    pushing = service is GitService.RECEIVE_PACK and request.method == "POST"
    request.state.audit_app = app
    needed = Action.OPERATE if service is GitService.RECEIVE_PACK else Action.READ
    decision = authorize(principal, needed, app)
    if not decision.allowed:
        return PlainTextResponse(f"Dockyard: {decision.reason}\n", status_code=403)
    try:
        validate_app_name(app)
        pusher = None
        if pushing:
            of_user = (
                f" of user {principal.user}" if principal.user and principal.user != principal.name else ""
            )
            pusher = Pusher(actor=principal.name, via=f"smart HTTP, token {principal.name}{of_user}")
            request.state.audit_detail = pusher.via
        env = await run_in_threadpool(partial(services.git.http.open, app, service=service, pusher=pusher))
    except DockyardError as exc:
        # git shows a text/plain error body to the user as `remote: ...` lines.
        return PlainTextResponse(f"{exc}\n", status_code=http_status(exc))
    user = credentials[0] if credentials and _USER_RE.fullmatch(credentials[0]) else "http"
    answer = await services.git.http.serve(
        GitHttpRequest(
            method=request.method,
            path_info=f"/{app}.git/{rest}",
            query=request.url.query,
            headers={name.lower(): value for name, value in request.headers.items()},
            body=request.stream(),
            remote_user=user,
            remote_addr=request.client.host if request.client else "",
        ),
        env=env,
    )
    return StreamingResponse(answer.body, status_code=answer.status, headers=dict(answer.headers))
