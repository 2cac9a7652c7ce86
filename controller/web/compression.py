"""gzip for what a browser loads (pages, fragments, static files), never for the machine side.

The API, git's smart HTTP and webhooks answer as before: their clients (the CLI, git, the
providers) stream or count bytes and gain little. Event streams are never compressed
(Starlette's GZipMiddleware leaves text/event-stream alone, and /live/ is skipped anyway).
"""

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

UNCOMPRESSED = ("/api/", "/git/", "/hooks/", "/openapi.json", "/live/")
MINIMUM_SIZE = 1024  # bytes; smaller answers go out as they are
# zlib's default level, as nginx's gzip: Starlette's 9 took 1.8 ms for the 200-app dashboard
# (on the event loop, holding up every other request) against 1.1 ms, for 1 % fewer bytes.
LEVEL = 6


class PageCompression:
    """GZipMiddleware for the GUI's paths only."""

    def __init__(self, app: ASGIApp) -> None:
        self._plain = app
        self._gzip = GZipMiddleware(app, minimum_size=MINIMUM_SIZE, compresslevel=LEVEL)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not str(scope.get("path", "")).startswith(UNCOMPRESSED):
            await self._gzip(scope, receive, send)
        else:
            await self._plain(scope, receive, send)
