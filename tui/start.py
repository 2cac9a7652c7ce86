"""`dockyard tui`'s start: the first fetch runs in a thread while the main thread imports the
console (Textual and the screens, most of the time to the first frame), so the first frame
can show the apps on screen with their state as soon as the console is up.

A controller reached over plain HTTP with no proxy between (the usual local one) is asked
with the standard library (`PlainHttp`: http.client, one keep-alive connection): httpx, its
client and its SSL context are made after the first frame, and its import no longer competes
with Textual's for the interpreter. Anything else (HTTPS, a proxy, a URL with credentials) is
asked through the TUI's httpx client, as the rest of the TUI is; both give the same answers and
the same errors (tui/target.py's messages).
"""

import contextlib
import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from tui.target import (
    ABSENT,
    ApiError,
    Target,
    Unreachable,
    answer_of,
    find_target,
    plain_http,
    unreachable,
)

if TYPE_CHECKING:
    from http.client import HTTPConnection

    from tui.client import Client

DETAIL_CHUNK = 24  # apps whose details are fetched before the screen is redrawn (a screenful)
CONNECT_TIMEOUT = 15.0  # as the httpx client's (no read timeout either)
# What httpx leaves unquoted in a URL's path: printable ASCII but for space " # < > ? ` { }
# (and "%", kept too, so an existing %xx escape stays one).
PATH_SAFE = "".join(chr(i) for i in range(0x21, 0x7F) if chr(i) not in '"#<>?`{}')


@dataclass
class FirstFetch:
    """What the first frame shows: the apps, the latest deploys and whoami (each its answer or
    the ApiError it raised), and the details of the first screenful of apps."""

    apps: list[dict[str, Any]] | ApiError
    deploys: list[dict[str, Any]] | ApiError
    whoami: dict[str, Any] | ApiError | None
    details: dict[str, dict[str, Any] | ApiError] = field(default_factory=dict)


def first_screen(apps: list[dict[str, Any]]) -> list[str]:
    """The apps whose details the first fetch includes: the first DETAIL_CHUNK by name."""
    return sorted(str(app["name"]) for app in apps)[:DETAIL_CHUNK]


async def first_fetch(client: "Client", *, screenful: bool = False) -> FirstFetch:
    """The apps, deploys and whoami at once, then (`screenful`) the details of the first
    DETAIL_CHUNK apps at once; an ApiError is kept rather than raised."""
    import asyncio  # imported by then (Textual's); not before the first fetch of `main`

    apps, deploys, whoami = await asyncio.gather(
        client.apps(), client.deploys(limit=500), client.whoami(), return_exceptions=True
    )
    for answer in (apps, deploys, whoami):
        if isinstance(answer, BaseException) and not isinstance(answer, ApiError):
            raise answer
    first = FirstFetch(apps, deploys, whoami)
    if screenful and isinstance(apps, list):
        names = first_screen(apps)
        answers = await asyncio.gather(*(client.app(name) for name in names), return_exceptions=True)
        for name, answer in zip(names, answers, strict=True):
            if isinstance(answer, BaseException) and not isinstance(answer, ApiError):
                raise answer
            first.details[name] = answer
    return first


class ConnectTimeout(TimeoutError):
    """No connection within CONNECT_TIMEOUT (named as httpx names it, with no message)."""


class PlainHttp:
    """GETs of the API over plain HTTP with the standard library, on one keep-alive connection,
    with the httpx client's answers and errors (see `Client.request`)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.url = target.url.rstrip("/")
        parts = urlsplit(self.url)
        self.host = parts.hostname or ""
        self.port = parts.port or 80
        self.prefix = parts.path
        self.headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
        self.connection: HTTPConnection | None = None

    @staticmethod
    def serves(target: Target, environ: Mapping[str, str]) -> bool:
        """Whether `target` is one PlainHttp asks like httpx would: plain HTTP, no proxy that
        may apply, a host (and a valid port), no credentials, query or fragment in the URL."""
        if not plain_http(target.url, environ):
            return False
        try:
            parts = urlsplit(target.url.rstrip("/"))
            parts.port  # noqa: B018 (raises ValueError when it is not a port number)
        except ValueError:
            return False
        return bool(parts.hostname) and not ("@" in parts.netloc or parts.query or parts.fragment)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def connect(self) -> "HTTPConnection":
        """A new connection; one that fails fails as httpx's does (with anyio's words)."""
        import socket
        from http.client import HTTPConnection  # in the thread, beside Textual's imports

        connection = HTTPConnection(self.host, self.port, timeout=CONNECT_TIMEOUT)
        try:
            connection.connect()
        except socket.gaierror:  # the name is not known: the resolver's words, as httpx's
            raise
        except TimeoutError as exc:
            raise ConnectTimeout() from exc
        except OSError as exc:  # refused, no route...
            raise OSError("All connection attempts failed") from exc
        assert connection.sock is not None
        connection.sock.settimeout(None)  # no read timeout, as httpx's
        self.connection = connection
        return connection

    def get(self, path: str, query: str = "") -> Any:
        """The JSON answer of GET /api/v1`path`; ApiError for an error status, Unreachable when
        the controller does not answer (a keep-alive connection it closed is opened again)."""
        from http.client import HTTPException

        url = quote(f"{self.prefix}/api/v1{path}", safe=PATH_SAFE) + (f"?{query}" if query else "")
        while True:
            reused = self.connection is not None
            try:
                connection = self.connection or self.connect()
                connection.request("GET", url, headers=self.headers)
                response = connection.getresponse()
                content = response.read()
            except (OSError, HTTPException) as exc:
                self.close()
                if reused:  # closed by the controller between two requests: once more
                    continue
                raise unreachable(self.url, exc) from exc
            if response.will_close:
                self.close()
            break
        text = content.decode(charset(response.headers.get_content_charset()), errors="replace")
        return answer_of(response.status, content, text, self.target.token_source)

    def kept(self, path: str, query: str = "", *, absent: Any = ...) -> Any:
        """`get`, with its ApiError returned rather than raised; `absent` is the answer of an
        endpoint this controller does not have (404, 405), when given."""
        try:
            return self.get(path, query)
        except ApiError as exc:
            return absent if absent is not ... and exc.status in ABSENT else exc

    def first_fetch(self, *, screenful: bool = False) -> FirstFetch:
        """`first_fetch`'s answers, one request after the other on the one connection."""
        apps = self.kept("/apps")
        if isinstance(apps, Unreachable):  # not twice more (httpx asks the three at once)
            return FirstFetch(apps, apps, apps)
        first = FirstFetch(apps, self.kept("/deploys", "limit=500"), self.kept("/whoami", absent=None))
        if screenful and isinstance(apps, list):
            for name in first_screen(apps):
                first.details[name] = self.kept(f"/apps/{name}")
        return first


def charset(name: str | None) -> str:
    """The codec of a Content-Type's charset, utf-8 when there is none or it is not known."""
    import codecs

    try:
        return codecs.lookup(name).name if name else "utf-8"
    except LookupError:
        return "utf-8"


def prefetch(target: Target) -> FirstFetch:
    """The first fetch (with the first screenful's details): over plain HTTP with the standard
    library, else with the TUI's httpx client (its own, with its own loop)."""
    return fetch_plain(target) if PlainHttp.serves(target, os.environ) else fetch_with_client(target)


def fetch_plain(target: Target) -> FirstFetch:
    """The first fetch (with the first screenful's details) with the standard library."""
    http = PlainHttp(target)
    try:
        return http.first_fetch(screenful=True)
    finally:
        http.close()


def fetch_with_client(target: Target) -> FirstFetch:
    """The first fetch (with the first screenful's details) with the TUI's httpx client: its
    own, on its own event loop."""
    import asyncio

    from tui.client import Client

    async def fetch() -> FirstFetch:
        client = Client(target)
        try:
            return await first_fetch(client, screenful=True)
        finally:
            await client.aclose()

    return asyncio.run(fetch())


def main() -> None:
    """Start the TUI; a controller that does not answer or refuses the token exits 2."""
    target = find_target()
    fetched: list[FirstFetch | BaseException] = []

    def fetch() -> None:
        try:
            fetched.append(prefetch(target))
        except BaseException as exc:  # raised in the main thread below
            fetched.append(exc)

    thread = threading.Thread(target=fetch, name="first fetch", daemon=True)
    thread.start()
    from tui.app import DockyardApp  # the heavy imports, meanwhile
    from tui.client import Client

    thread.join()
    first = fetched[0]
    if isinstance(first, BaseException):
        raise first
    if isinstance(first.apps, ApiError):
        print(f"error: {first.apps}", file=sys.stderr)
        sys.exit(2)
    with contextlib.suppress(KeyboardInterrupt):
        DockyardApp(Client(target), first=first).run()
