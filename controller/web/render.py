"""Rendering GUI pages: Jinja2 templates (autoescaped), security headers, error pages."""

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from controller import __version__
from controller.domain.access import Action, Principal, authorize
from controller.web.views import age

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
# No inline script or style anywhere: scripts and styles come from /static only.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_templates = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
    # The templates ship with the controller and change only with it: no stat() of the file
    # on each use (an include or import in a loop did one per row).
    auto_reload=False,
)
_templates.filters["age"] = age


def permissions(request: Request) -> Any:
    """The templates' `may("operate", app)`: whether the logged-in principal may do `action` on
    `app` (None: no app). Controls a principal may not use are not rendered at all; the routes
    refuse them anyway. A page without a principal on the request (the login form, an error
    page of a visitor without a session) offers nothing."""
    principal: Principal | None = getattr(request.state, "principal", None)

    def may(action: str, app: str | None = None) -> bool:
        if principal is None:
            return False
        return authorize(principal, Action(action), app).allowed

    return may


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page `template` with `context`, the session (for its CSRF token) and the headers."""
    html = _templates.get_template(template).render(
        request=request,
        session=getattr(request.state, "session", None),
        may=permissions(request),
        version=__version__,
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    """A readable error page (404, 403, ...) instead of a blank one or a stack trace."""
    titles = {403: "Not allowed", 404: "Not found"}
    return render(
        request,
        "error.html",
        status_code=status_code,
        title=titles.get(status_code, "Something went wrong"),
        status=status_code,
        message=message,
    )
