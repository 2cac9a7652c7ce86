"""GUI dependencies: the logged-in session (else a redirect to /login) and CSRF-checked forms."""

from typing import Annotated
from urllib.parse import parse_qsl, quote

from fastapi import Depends, Request

from controller.api.deps import ServicesDep
from controller.web.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    Session,
    SessionSigner,
    csrf_matches,
)

FORM_LIMIT = 64 * 1024  # bytes of one form; config values are the largest fields


class LoginRequired(Exception):
    """No valid session: answered with a redirect to /login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(Exception):
    """A state change without the session's CSRF token: answered 403."""


class FormTooLarge(Exception):
    """A form body over FORM_LIMIT: answered 413."""


def signer_of(request: Request) -> SessionSigner:
    signer: SessionSigner = request.app.state.web_signer
    return signer


async def current_session(request: Request) -> Session:
    """The request's session; raises LoginRequired without a valid one."""
    session = signer_of(request).load(request.cookies.get(SESSION_COOKIE))
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(quote(target, safe="/?=&"))
    request.state.session = session
    return session


SessionDep = Annotated[Session, Depends(current_session)]


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
__all__ = ["FormDep", "ServicesDep", "SessionDep"]
