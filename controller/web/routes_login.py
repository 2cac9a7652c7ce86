"""Logging in and out of the GUI."""

import secrets

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from controller.api.deps import ServicesDep
from controller.web.deps import FormDep, read_form, signer_of
from controller.web.render import render
from controller.web.session import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SESSION_SECONDS,
    check_credentials,
    csrf_matches,
)

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """A same-site path to go to after logging in; anything else goes to the dashboard."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_form(
    request: Request, *, next_path: str, error: str | None = None, status_code: int = 200
) -> Response:
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(16)
    response = render(
        request, "login.html", status_code=status_code, login_csrf=token, next_path=next_path, error=error
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/login",
    )
    return response


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return _login_form(request, next_path=safe_next(next))


@router.post("/login")
async def login(request: Request, services: ServicesDep) -> Response:
    form = await read_form(request)
    next_path = safe_next(form.get("next"))
    if not csrf_matches(request.cookies.get(LOGIN_COOKIE, ""), form.get(CSRF_FIELD)) or not form.get(
        CSRF_FIELD
    ):
        return _login_form(
            request,
            next_path=next_path,
            status_code=403,
            error="the form expired: reload the page and log in again",
        )
    who = check_credentials(services, form.get("token", "").strip())
    if who is None:
        return _login_form(request, next_path=next_path, status_code=401, error="that token is not valid")
    cookie, _session = signer_of(request).issue(who)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(form: FormDep) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
