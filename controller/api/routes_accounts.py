"""Routes of users, API tokens (admin), the audit log (admins; developers see their apps) and
browser sessions (log in with a password: a session cookie and a CSRF token).

No answer ever holds a password, a password hash or a token's hash; a token's secret and a
generated password are in the one answer that creates them.
"""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, BeforeValidator, Field
from starlette.concurrency import run_in_threadpool

from controller.api.auth import SESSION_COOKIE, PrincipalDep, no_app, requires
from controller.api.deps import ServicesDep
from controller.api.schemas import FromAttributes
from controller.domain.access import PASSWORD_MAX, Action, Role, authorize
from controller.domain.account_records import AuditQuery
from controller.services.sessions import TooManyLogins

router = APIRouter(prefix="/api/v1", tags=["accounts"])
ADMIN = [requires(Action.ADMINISTER, app=no_app)]
AUDIT_LIMIT_MAX = 1000


class UserCreate(BaseModel):
    name: str = Field(max_length=64)
    role: str = Field(max_length=16)
    apps: list[str] = Field(default_factory=list, max_length=1000)
    password: str | None = Field(default=None, max_length=PASSWORD_MAX)


class UserUpdate(BaseModel):
    role: str = Field(max_length=16)
    apps: list[str] = Field(default_factory=list, max_length=1000)


class PasswordUpdate(BaseModel):
    password: str | None = Field(default=None, max_length=PASSWORD_MAX)


# A role read as its value; a set of apps as a sorted list (None: every app).
RoleValue = Annotated[str, BeforeValidator(lambda role: role.value if isinstance(role, Role) else role)]
AppList = Annotated[
    list[str] | None, BeforeValidator(lambda apps: sorted(apps) if apps is not None else None)
]


class UserPublic(FromAttributes):
    name: str
    role: RoleValue
    apps: AppList
    created_at: datetime


class UserCreated(UserPublic):
    password: str | None = Field(
        description="the generated password, shown this once; null when one was given"
    )


class PasswordSet(BaseModel):
    password: str | None = Field(
        description="the generated password, shown this once; null when one was given"
    )


class TokenCreate(BaseModel):
    name: str = Field(max_length=64)
    user: str | None = Field(default=None, max_length=64)
    role: str | None = Field(default=None, max_length=16)
    apps: list[str] = Field(default_factory=list, max_length=1000)
    expires: str | None = Field(default=None, max_length=16, description="e.g. 30d, 12h, 2w")


class TokenPublic(FromAttributes):
    id: str
    name: str
    user: str | None
    role: RoleValue | None
    apps: AppList
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="the secret, shown this once (only its hash is stored)")


class AuditEventPublic(FromAttributes):
    at: datetime
    actor: str
    action: str
    app: str | None
    outcome: str
    source: str | None
    detail: str


@router.get("/users", response_model=list[UserPublic], dependencies=ADMIN)
def list_users(services: ServicesDep) -> list[UserPublic]:
    return [UserPublic.model_validate(user) for user in services.accounts.users.all()]


@router.post("/users", response_model=UserCreated, status_code=status.HTTP_201_CREATED, dependencies=ADMIN)
def add_user(body: UserCreate, services: ServicesDep) -> UserCreated:
    user, generated = services.accounts.users.add(
        body.name, role=body.role, apps=body.apps, password=body.password
    )
    return UserCreated(**UserPublic.model_validate(user).model_dump(), password=generated)


@router.put("/users/{name}", response_model=UserPublic, dependencies=ADMIN)
def set_user(name: str, body: UserUpdate, services: ServicesDep) -> UserPublic:
    """Change a user's role and apps (the last admin cannot be demoted)."""
    return UserPublic.model_validate(services.accounts.users.update(name, role=body.role, apps=body.apps))


@router.put("/users/{name}/password", response_model=PasswordSet, dependencies=ADMIN)
def set_password(name: str, body: PasswordUpdate, services: ServicesDep) -> PasswordSet:
    return PasswordSet(password=services.accounts.users.set_password(name, body.password))


@router.delete("/users/{name}", status_code=status.HTTP_204_NO_CONTENT, dependencies=ADMIN)
def remove_user(name: str, services: ServicesDep) -> None:
    """Remove a user, its tokens and its SSH keys (the last admin cannot be removed)."""
    services.accounts.users.remove(name)
    services.git.keys.sync()  # its keys leave authorized_keys too


@router.get("/tokens", response_model=list[TokenPublic], dependencies=ADMIN)
def list_tokens(services: ServicesDep) -> list[TokenPublic]:
    return [TokenPublic.model_validate(token) for token in services.accounts.tokens.all()]


@router.post("/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED, dependencies=ADMIN)
def create_token(body: TokenCreate, services: ServicesDep) -> TokenCreated:
    token, secret = services.accounts.tokens.create(
        body.name, user=body.user, role=body.role, apps=body.apps, expires=body.expires
    )
    return TokenCreated(**TokenPublic.model_validate(token).model_dump(), token=secret)


@router.delete("/tokens/{token}", response_model=TokenPublic, dependencies=ADMIN)
def revoke_token(token: str, services: ServicesDep) -> TokenPublic:
    """Revoke a token by name or id: it is refused from its next request on."""
    return TokenPublic.model_validate(services.accounts.tokens.revoke(token))


async def _query_app(request: Request, services: object) -> str | None:
    return request.query_params.get("app")


@router.get(
    "/audit", response_model=list[AuditEventPublic], dependencies=[requires(Action.OPERATE, app=_query_app)]
)
async def audit_log(
    services: ServicesDep,
    principal: PrincipalDep,
    app: str | None = Query(default=None, max_length=64),
    user: str | None = Query(default=None, max_length=255, description="the actor: a user or token name"),
    since: datetime | None = None,
    limit: int = Query(default=200, ge=1, le=AUDIT_LIMIT_MAX),
) -> list[AuditEventPublic]:
    """The audit log, newest first. Admins see everything; others only the events of their apps."""
    scope = principal.apps
    if principal.role is not Role.ADMIN and scope is None:
        scope = frozenset(a.name for a in await run_in_threadpool(services.apps.all))
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    query = AuditQuery(app=app, actor=user, since=since, apps=scope, limit=limit)
    events = await run_in_threadpool(services.accounts.audit.query, query)
    return [AuditEventPublic.model_validate(event) for event in events]


class WhoAmI(BaseModel):
    name: str = Field(description="the token's name, or the user's for a browser session")
    kind: str = Field(description="token, user (a browser session) or system")
    user: str | None = Field(description="the user a token belongs to; null for a token of its own")
    role: str
    apps: list[str] | None = Field(description="the apps it may use; null: every app")
    app: str | None = Field(description="the app `actions` are about, when one was asked")
    actions: list[str] = Field(
        description="what it may do (read, operate, administer): on `app` when one was asked, "
        "else on the apps of its scope"
    )


@router.get("/whoami", response_model=WhoAmI, dependencies=[requires(Action.READ, app=no_app)])
async def whoami(
    principal: PrincipalDep,
    app: str | None = Query(default=None, max_length=64, description="the actions on this app"),
) -> WhoAmI:
    """Who the credential of this request is and what it may do, as the routes decide it.

    Any valid credential may ask (a viewer too); `app` need not exist, the answer says only
    what this principal would be allowed.
    """
    return WhoAmI(
        name=principal.name,
        kind=principal.kind.value,
        user=principal.user,
        role=principal.role.value,
        apps=sorted(principal.apps) if principal.apps is not None else None,
        app=app,
        actions=[action.value for action in Action if authorize(principal, action, app).allowed],
    )


class LoginRequest(BaseModel):
    user: str = Field(max_length=64)
    password: str = Field(max_length=PASSWORD_MAX)


class SessionPublic(BaseModel):
    user: str
    role: str
    apps: list[str] | None
    csrf_token: str = Field(description="send it as X-CSRF-Token with every request that changes something")
    expires_at: datetime


@router.post(
    "/session",
    response_model=SessionPublic,
    responses={401: {"description": "wrong user or password"}, 429: {"description": "too many failures"}},
)
async def login(
    body: LoginRequest, request: Request, response: Response, services: ServicesDep
) -> SessionPublic:
    """Log a browser in: an HttpOnly, SameSite=Lax session cookie and a CSRF token."""
    request.state.audit_actor = body.user[:64]
    source = request.client.host if request.client else ""
    try:
        new = await run_in_threadpool(
            services.accounts.sessions.login, body.user, body.password, source=source
        )
    except TooManyLogins as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, str(exc), headers={"Retry-After": str(exc.retry_after)}
        ) from None
    request.state.principal = new.principal
    secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
    response.set_cookie(
        SESSION_COOKIE,
        new.session_id,
        max_age=int((new.expires_at - datetime.now(UTC)).total_seconds()),
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    principal = new.principal
    return SessionPublic(
        user=principal.name,
        role=principal.role.value,
        apps=sorted(principal.apps) if principal.apps is not None else None,
        csrf_token=new.csrf_token,
        expires_at=new.expires_at,
    )


@router.delete(
    "/session", status_code=status.HTTP_204_NO_CONTENT, dependencies=[requires(Action.READ, app=no_app)]
)
def logout(request: Request, response: Response, services: ServicesDep) -> None:
    """End this browser's session (with its CSRF token); a bearer token has none to end."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        services.accounts.sessions.logout(session_id)
    response.delete_cookie(SESSION_COOKIE, path="/")
