"""The web GUI: server-rendered pages at `/` on the API's address, calling the same services."""

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from controller.api.errors import error_answer, http_status
from controller.domain.errors import DockyardError
from controller.settings import Settings
from controller.web import (
    routes_actions,
    routes_app,
    routes_create,
    routes_login,
    routes_logs,
    routes_pages,
    routes_settings,
)
from controller.web.compression import PageCompression
from controller.web.deps import CsrfRefused, FormTooLarge, LoginRequired, NotAllowed
from controller.web.render import STATIC_DIR, error_page

# Paths the GUI does not own: their errors stay JSON (or what their routes answer).
CSRF_REFUSED = "This form was refused: it lacked a valid CSRF token. Reload the page and try again."
MACHINE_PREFIXES = ("/api/", "/git/", "/hooks/", "/openapi.json")


def is_page(request: Request) -> bool:
    return not request.url.path.startswith(MACHINE_PREFIXES)


def install_web(app: FastAPI, settings: Settings) -> None:
    """Mount the GUI's routes, static files and error pages on the API's app."""
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="web-static")
    app.add_middleware(PageCompression)
    app.include_router(routes_login.router)
    app.include_router(routes_pages.router)
    app.include_router(routes_logs.router)
    app.include_router(routes_actions.router)
    app.include_router(routes_app.router)
    app.include_router(routes_settings.router)
    app.include_router(routes_create.router)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse(f"/login?next={exc.next_path}", status_code=303)

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, exc: CsrfRefused) -> Response:
        return error_page(
            request,
            403,
            CSRF_REFUSED,
        )

    @app.exception_handler(NotAllowed)
    async def not_allowed(request: Request, exc: NotAllowed) -> Response:
        return error_page(request, 403, f"You may not do this: {exc.reason}.")

    @app.exception_handler(FormTooLarge)
    async def form_too_large(request: Request, exc: FormTooLarge) -> Response:
        return error_page(request, 413, "This form is too large.")

    @app.exception_handler(StarletteHTTPException)
    async def not_found_page(request: Request, exc: StarletteHTTPException) -> Response:
        if is_page(request) and exc.status_code in (404, 405):
            return error_page(request, 404, "There is no page at this address.")
        return await http_exception_handler(request, exc)

    @app.exception_handler(DockyardError)
    async def page_errors(request: Request, exc: DockyardError) -> Response:
        """A page whose app or deploy does not exist (or a hostile name) answers an HTML page."""
        if not is_page(request):
            return error_answer(exc)
        return error_page(request, http_status(exc), str(exc))
