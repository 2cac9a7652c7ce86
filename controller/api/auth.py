"""Authorization in one place: every route declares the action it needs and where its app is.

`requires(Action.OPERATE)` checks the bearer token (401 without a valid one), then the
principal's role and app scope (403 when it lacks either), and leaves the principal on the
request for list endpoints (`PrincipalDep`) and for the audit trail. The git hooks' token
is accepted only by `requires_hook`: it opens nothing else.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controller.api.deps import ServicesDep, get_services
from controller.domain.access import Action, Principal, PrincipalKind, Role, authorize
from controller.domain.credentials import secrets_match
from controller.domain.errors import NotFound, Unauthenticated
from controller.services.sessions import CsrfRefused
from controller.wiring import Services

_bearer = HTTPBearer(auto_error=False)
SESSION_COOKIE = "dockyard_session"
CSRF_HEADER = "x-csrf-token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
PRINCIPAL = "principal"
AUDIT_APP = "audit_app"
AUDIT_ACTOR = "audit_actor"  # who a refused login claimed to be
AUDIT_AS = "audit_as"  # whom a request acts for, when not its principal (the pusher of a git hook call)
AUDIT_DETAIL = "audit_detail"  # what the audit event says before the request line
# The status whose audit event the route stored itself (with the job it queued, one transaction)
AUDITED_STATUS = "audited_status"
HOOK_PRINCIPAL = Principal("git-hook", PrincipalKind.SYSTEM, Role.DEVELOPER)
# Where a route's app is: a path parameter, or the app of the deploy a path names.
AppOf = Callable[[Request, Services], Awaitable[str | None]]


def unauthenticated(message: str = "missing or invalid API token") -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"})


async def principal_of_secret(services: Services, secret: str | None) -> Principal:
    """The principal of an API token; a dict lookup when it was seen lately.

    Raises:
        HTTPException: 401 for a missing, unknown, revoked or expired token.
    """
    if not secret:
        raise unauthenticated()
    tokens = services.accounts.tokens
    principal = tokens.cached_principal(secret)
    if principal is not None:
        return principal
    try:
        return await run_in_threadpool(tokens.authenticate, secret)
    except NotFound:
        raise unauthenticated() from None


async def principal_of_session(services: Services, request: Request, session_id: str) -> Principal:
    """The user of a browser session; a request that changes something needs its CSRF token.

    Raises:
        HTTPException: 401 for no live session, 403 for a change without the CSRF token.
    """
    try:
        return await run_in_threadpool(
            services.accounts.sessions.authenticate,
            session_id,
            csrf=request.headers.get(CSRF_HEADER),
            changes=request.method not in _SAFE,
        )
    except Unauthenticated as exc:
        raise unauthenticated(str(exc)) from None
    except CsrfRefused as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None


def path_app(parameter: str = "name") -> AppOf:
    async def app_of(request: Request, services: Services) -> str | None:
        return request.path_params.get(parameter)

    return app_of


async def deploy_app(request: Request, services: Services) -> str | None:
    """The app of the deploy in the path (a 404 for an unknown deploy comes from the route)."""
    try:
        deploy = await run_in_threadpool(services.history.get, request.path_params["deploy_id"])
    except NotFound:
        return None
    return deploy.app


async def no_app(request: Request, services: Services) -> str | None:
    return None


class Requirement(HTTPBearer):
    """A route's dependency: the action it needs, on the app `app_of` finds in the request.

    It is the bearer scheme itself (the OpenAPI schema names the same `HTTPBearer`), reading
    the header and the services from the request: one dependency for FastAPI to solve per
    request rather than three (this, the services and the bearer credentials).
    """

    def __init__(self, action: Action, app_of: AppOf, *, reveal_needs: Action | None = None) -> None:
        super().__init__(scheme_name="HTTPBearer", auto_error=False)
        self.action = action
        self._app_of = app_of
        self._reveal_needs = reveal_needs

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        services = await get_services(request)
        credentials = await super().__call__(request)
        session_id = request.cookies.get(SESSION_COOKIE)
        if credentials is None and session_id:
            principal = await principal_of_session(services, request, session_id)
        else:
            principal = await principal_of_secret(services, credentials.credentials if credentials else None)
        request.state.principal = principal
        app = await self._app_of(request, services)
        request.state.audit_app = app
        action = self.action
        if self._reveal_needs is not None and request.query_params.get("reveal") in ("1", "true", "True"):
            action = self._reveal_needs
        decision = authorize(principal, action, app)
        if not decision.allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, decision.reason)
        return principal


def requires(action: Action, *, app: AppOf | None = None, reveal_needs: Action | None = None) -> Any:
    """The dependency of a route needing `action` on the app in its `{name}` (or `app`)."""
    return Depends(Requirement(action, app or path_app(), reveal_needs=reveal_needs))


async def current_principal(request: Request) -> Principal:
    """The principal a route's requirement authenticated (declared before it)."""
    principal: Principal | None = getattr(request.state, PRINCIPAL, None)
    if principal is None:
        raise unauthenticated()
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def require_hook(request: Request, services: ServicesDep, credentials: BearerDep) -> Principal:
    """The token git-shell and the hooks read from hook.json, or an admin's token."""
    given = credentials.credentials if credentials else None
    if secrets_match(given, services.git.hook_token):
        principal = HOOK_PRINCIPAL
    else:
        try:
            principal = await principal_of_secret(services, given)
        except HTTPException:
            raise unauthenticated("missing or invalid hook token") from None
        if principal.role is not Role.ADMIN or principal.apps is not None:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, "the git hook routes need the hook token or an admin"
            )
    request.state.principal = principal
    request.state.audit_app = request.path_params.get("name")
    return principal


_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _starts_http_push(scope: Scope) -> bool:
    """A push over smart HTTP starts with GET .../info/refs?service=git-receive-pack, which a
    refused pusher never gets past."""
    return (
        scope["method"] == "GET"
        and scope["path"].startswith("/git/")
        and b"service=git-receive-pack" in scope.get("query_string", b"")
    )


class AuditTrail:
    """Records every request that changes something: who, what, which app, outcome, from where.

    Refusals (401, 403) are recorded too, and a push over smart HTTP refused at its first
    request. Webhook deliveries are recorded as `webhook:<provider>`; requests without a
    credential as `anonymous`; a route may name the one it acts for (`AUDIT_AS`: the git
    hooks' calls name the pusher, not the hook token).
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"] not in _CHANGES and not _starts_http_push(scope)):
            await self._app(scope, receive, send)
            return
        status_code = 500

        async def watching(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, watching)
        finally:
            # Of a push's first request only the refusal: git asks without credentials first (401).
            if scope["method"] in _CHANGES or status_code == status.HTTP_403_FORBIDDEN:
                self._record(scope, status_code)

    def _record(self, scope: Scope, status_code: int) -> None:
        services: Services | None = getattr(getattr(scope.get("app"), "state", None), "services", None)
        if services is None:
            return
        if (scope.get("state") or {}).get(AUDITED_STATUS) == status_code:
            return  # stored with the job the request queued, before its answer
        services.accounts.audit.record(**audit_fields(scope, status_code))


def audit_fields(scope: Scope, status_code: int) -> dict[str, Any]:
    """What the audit trail records of a request answered with `status_code`: who, what,
    which app, the outcome, from where, and the request line."""
    state = scope.get("state") or {}
    principal: Principal | None = state.get(PRINCIPAL)
    path: str = scope["path"]
    params = scope.get("path_params") or {}
    actor = state.get(AUDIT_AS) or (
        principal.name if principal is not None else state.get(AUDIT_ACTOR, "anonymous")
    )
    if path.startswith("/hooks/"):
        actor = f"webhook:{params.get('provider', '?')}"
    endpoint = scope.get("endpoint")
    action = getattr(endpoint, "__name__", None) or f"{scope['method']} {path}"
    app = state.get(AUDIT_APP) or params.get("name") or params.get("app")
    outcome = "ok" if status_code < 400 else "denied" if status_code in (401, 403, 429) else "failed"
    client = scope.get("client")
    detail = f"{scope['method']} {path} -> {status_code}"
    if state.get(AUDIT_DETAIL):
        detail = f"{state[AUDIT_DETAIL]}: {detail}"
    return {
        "actor": actor,
        "action": action,
        "app": app,
        "outcome": outcome,
        "source": client[0] if client else None,
        "detail": detail,
    }


def key_may(services: Services, key_name: str, action: Action, app: str) -> None:
    """Refuse (403, one line git-shell shows) a git command over SSH its key's owner may not run.

    A key without an owner was added by an admin before keys had owners: it keeps an admin's
    rights, so an upgrade does not lock anyone out.

    Raises:
        HTTPException: 403 when the owner lacks the role or the app.
    """
    key = next((k for k in services.git.keys.all() if k.name == key_name), None)
    if key is None:  # a line left in authorized_keys after its key (or owner) was removed
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"no SSH key named {key_name!r}")
    if key.owner is None:
        return
    try:
        user = services.accounts.users.get(key.owner)
    except NotFound:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"the owner of SSH key {key_name!r} is gone") from None
    principal = Principal(user.name, PrincipalKind.USER, user.role, user.apps)
    decision = authorize(principal, action, app)
    if not decision.allowed:
        verb = "push to" if action is Action.OPERATE else "read"
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"{user.name} ({user.role.value}) may not {verb} {app!r}"
        )
