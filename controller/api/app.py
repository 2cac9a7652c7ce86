"""The FastAPI application factory: routes, auth, error mapping, body limits, lifespan."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path

from controller import __version__
from controller.api import (
    routes_accounts,
    routes_apps,
    routes_certs,
    routes_deploys,
    routes_git,
    routes_git_http,
    routes_hooks,
    routes_system,
)
from controller.api.auth import AuditTrail
from controller.api.errors import install_error_handlers
from controller.api.follow import FollowerLimits
from controller.api.schemas import Health
from controller.settings import Settings
from controller.web import install_web
from controller.wiring import Services, build_services

JSON_BODY_LIMIT = 1024 * 1024
DOCS_URL = "/api/docs"
DOCS_ASSETS = DOCS_URL + "/assets"  # Swagger UI's files, from the swagger-ui-bundle package


class BodyLimit:
    """Refuses bodies over their limit by Content-Length, before any route reads them.

    Build uploads stream and are counted again by their route; other bodies must say
    their length.
    """

    def __init__(self, app: ASGIApp, *, upload_limit: int) -> None:
        self._app = app
        self._upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            headers = dict(scope["headers"])
            # git pushes over smart HTTP stream packs of any size (chunked) like build uploads.
            is_upload = scope["path"].endswith("/deploys") or scope["path"].startswith("/git/")
            limit = self._upload_limit if is_upload else JSON_BODY_LIMIT
            length = headers.get(b"content-length")
            if length is None and not is_upload and headers.get(b"transfer-encoding"):
                await _plain(send, 411, "a Content-Length header is required")
                return
            if length is not None and (not length.isdigit() or int(length) > limit):
                await _plain(send, 413, f"request body is larger than {limit} bytes")
                return
        await self._app(scope, receive, send)


def _serve_docs(app: FastAPI) -> None:
    """Swagger UI at /api/docs with its scripts and styles served from here, not a CDN:
    a server without internet access shows it too."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} API",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon-32x32.png",
        )


async def _plain(send: Send, status: int, message: str) -> None:
    body = JSONResponse({"detail": message}, status_code=status).body
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app(
    settings: Settings | None = None,
    *,
    services: Services | None = None,
    on_started: Callable[[], object] | None = None,
) -> FastAPI:
    """Build the API; the services are created and started in the lifespan unless given.

    `on_started` runs once they have started (`dockyard serve` starts the keeper there).
    """
    resolved = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services if services is not None else await run_in_threadpool(build_services, resolved)
        app.state.services = owned
        await run_in_threadpool(owned.start)
        if on_started is not None:
            await run_in_threadpool(on_started)
        try:
            yield
        finally:
            owned.stop()

    app = FastAPI(
        title="Dockyard",
        version=__version__,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        # Dockyard sets up no OpenTelemetry; left on, FastAPI asks OpenTelemetry's global
        # providers (environment lookups) on every request whether they were configured.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    _serve_docs(app)

    install_error_handlers(app)

    @app.get("/api/v1/health", response_model=Health, tags=["system"])
    def health(request: Request) -> Health:
        owned: Services = request.app.state.services
        report = owned.system.health()
        return Health(
            status="ok", docker=report.docker, version=__version__, reconciled_at=report.reconciled_at
        )

    app.include_router(routes_apps.router)
    app.include_router(routes_deploys.router)
    app.include_router(routes_system.router)
    app.include_router(routes_certs.router)
    app.include_router(routes_git.admin)
    app.include_router(routes_git.hooks)
    app.include_router(routes_git_http.router)
    app.include_router(routes_hooks.router)
    app.include_router(routes_accounts.router)
    app.add_middleware(AuditTrail)
    install_web(app, resolved)  # the GUI at /, after the API so its routes come first
    app.add_middleware(BodyLimit, upload_limit=resolved.max_upload_mb * 1024 * 1024)
    app.state.followers = FollowerLimits(per_app=resolved.max_followers_per_app, total=resolved.max_followers)
    return app
