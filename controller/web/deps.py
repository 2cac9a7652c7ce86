"""GUI dependencies: the logged-in session (else a redirect to /login), what its principal may
do (`needs`, else a 403 page) and CSRF-checked forms.

The session is the API's (`SessionService`): the same cookie, the same principal, the same
`authorize` decision as the API's routes.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from controller.api.auth import AUDIT_APP, PRINCIPAL, path_app
from controller.api.deps import ServicesDep
from controller.domain.access import Action, Principal, authorize
from controller.domain.errors import Unauthenticated
from controller.services.sessions import csrf_token_of
from controller.web.session import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, Session, csrf_matches
from controller.wiring import Services

FORM_LIMIT = 64 * 1024  # bytes of one form; config values are the largest fields
AppOf = Callable[[Request, Services], Awaitable[str | None]]


class LoginRequired(Exception):
    """No valid session: answered with a redirect to /login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(Exception):
    """A state change without the session's CSRF token: answered 403."""


class FormTooLarge(Exception):
    """A form body over FORM_LIMIT: answered 413."""


class NotAllowed(Exception):
    """The session's principal lacks the role or the app: answered with a 403 page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _login_required(request: Request) -> LoginRequired:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return LoginRequired(quote(target, safe="/?=&"))


async def current_session(request: Request, services: ServicesDep) -> Session:
    """The request's session (its principal also on `request.state.principal`, for the
    templates' `may` and the audit trail); raises LoginRequired without a live one."""
    cached: Session | None = getattr(request.state, "session", None)
    if cached is not None:
        return cached
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        raise _login_required(request)
    try:
        principal = await run_in_threadpool(
            services.accounts.sessions.authenticate, session_id, csrf=None, changes=False
        )
    except Unauthenticated:
        raise _login_required(request) from None
    session = Session(principal=principal, csrf=csrf_token_of(session_id))
    request.state.session = session
    setattr(request.state, PRINCIPAL, principal)
    return session


SessionDep = Annotated[Session, Depends(current_session)]


async def current_principal(session: SessionDep) -> Principal:
    return session.principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def needs(action: Action, *, app: AppOf | None = None) -> Callable[..., Awaitable[Principal]]:
    """A route's dependency: the session's principal may do `action` on the app in the path's
    `{name}` (or where `app` finds it; no app: the action in general). `Depends(needs(...))`."""
    app_of = app or path_app()

    async def allowed(request: Request, services: ServicesDep, session: SessionDep) -> Principal:
        target = await app_of(request, services)
        setattr(request.state, AUDIT_APP, target)
        decision = authorize(session.principal, action, target)
        if not decision.allowed:
            raise NotAllowed(decision.reason)
        return session.principal

    return allowed


async def no_app(request: Request, services: Services) -> str | None:
    return None


async def read_form(request: Request) -> dict[str, str]:
    """The url-encoded form of a POST (the last value of a repeated field)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            raise FormTooLarge()
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


async def checked_form(request: Request, session: SessionDep) -> dict[str, str]:
    """The POST's form once its CSRF token (field or X-CSRF-Token header) matches the session's."""
    form = await read_form(request)
    given = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not csrf_matches(session.csrf, given):
        raise CsrfRefused()
    return form


FormDep = Annotated[dict[str, str], Depends(checked_form)]


def form_list(form: dict[str, Any], field: str) -> list[str]:
    """A comma- or space-separated field as a list of its non-empty items."""
    return [item for item in str(form.get(field, "")).replace(",", " ").split() if item]


__all__ = ["FormDep", "PrincipalDep", "ServicesDep", "SessionDep", "needs"]
