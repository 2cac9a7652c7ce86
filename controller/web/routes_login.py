"""Logging in and out of the GUI: a user name and password, through the API's SessionService
(the same session cookie; failed logins slowed and audited the same way)."""

import secrets
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from controller.api.auth import AUDIT_ACTOR, PRINCIPAL
from controller.api.deps import ServicesDep
from controller.domain.errors import Unauthenticated
from controller.services.sessions import TooManyLogins
from controller.web.deps import FormDep, read_form
from controller.web.render import render
from controller.web.session import CSRF_FIELD, LOGIN_COOKIE, SESSION_COOKIE, csrf_matches

router = APIRouter(include_in_schema=False)
FIELD_MAX = 1024  # longer names or passwords are refused by the service anyway


def safe_next(target: str | None) -> str:
    """A same-site path to go to after logging in; anything else goes to the dashboard."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def _login_form(
    request: Request,
    *,
    next_path: str,
    user: str = "",
    error: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(16)
    response = render(
        request,
        "login.html",
        status_code=status_code,
        login_csrf=token,
        next_path=next_path,
        user=user,
        error=error,
    )
    response.headers.update(headers or {})
    response.set_cookie(
        LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request), path="/login"
    )
    return response


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return _login_form(request, next_path=safe_next(next))


@router.post("/login")
async def login(request: Request, services: ServicesDep) -> Response:
    form = await read_form(request)
    next_path = safe_next(form.get("next"))
    user = form.get("user", "").strip()[:FIELD_MAX]
    password = form.get("password", "")[:FIELD_MAX]
    setattr(request.state, AUDIT_ACTOR, user[:64] or "anonymous")
    if not csrf_matches(request.cookies.get(LOGIN_COOKIE, ""), form.get(CSRF_FIELD)):
        return _login_form(
            request,
            next_path=next_path,
            user=user,
            status_code=403,
            error="The form expired: reload the page and log in again.",
        )
    source = request.client.host if request.client else ""
    try:
        new = await run_in_threadpool(services.accounts.sessions.login, user, password, source=source)
    except TooManyLogins as exc:
        return _login_form(
            request,
            next_path=next_path,
            user=user,
            status_code=429,
            error=f"Too many failed logins: try again in {exc.retry_after} s.",
            headers={"Retry-After": str(exc.retry_after)},
        )
    except Unauthenticated:
        return _login_form(
            request, next_path=next_path, user=user, status_code=401, error="Wrong user name or password."
        )
    setattr(request.state, PRINCIPAL, new.principal)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        new.session_id,
        max_age=max(int((new.expires_at - datetime.now(UTC)).total_seconds()), 0),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, services: ServicesDep, form: FormDep) -> Response:
    """End the session server-side (its cookie is then worthless anywhere), then forget it."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        await run_in_threadpool(services.accounts.sessions.logout, session_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
