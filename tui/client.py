"""The TUI's only way to the controller: its HTTP API, async, through httpx (imported on the
first request). Where the controller is and the errors are tui/target.py's, re-exported here.

This module never imports `controller` (import-linter).
"""

from __future__ import annotations

import importlib.util
import json
import os
import ssl
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tui.target import (
    ABSENT,
    DEFAULT_DATA_DIR,
    DEFAULT_URL,
    ApiError,
    Target,
    Unreachable,
    answer_of,
    error_message,
    find_target,
    plain_http,
    unreachable,
)

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DEFAULT_DATA_DIR",
    "DEFAULT_URL",
    "ApiError",
    "Client",
    "Event",
    "Target",
    "Unreachable",
    "find_target",
    "plain_http",
    "with_totals",
]


def import_httpx() -> None:
    """Import httpx, on first use: `dockyard tui` shows its first frame without it.

    httpx imports its command line client when its dependencies are there (click, pygments
    and more of rich, all installed here for other reasons): tens of milliseconds the TUI never
    uses, skipped by making that one import fail (httpx then defines a stub `main`)."""
    if "httpx" not in sys.modules and "httpx._main" not in sys.modules:
        sys.modules["httpx._main"] = None  # type: ignore[assignment]
        try:
            import httpx  # noqa: F401 (imported for the TUI's client, made next)
        finally:
            del sys.modules["httpx._main"]
    # httpcore imports sniffio several times per request (to tell asyncio from trio). sniffio
    # is not installed, and an import that fails searches sys.path again each time: 200 GETs
    # took 0.71 s of CPU here, 0.38 s once None in sys.modules makes the import fail at once.
    if importlib.util.find_spec("sniffio") is None:
        sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Event:
    """One Server-Sent Event of /api/v1/events."""

    type: str
    id: str | None
    data: dict[str, Any]


class Client:
    """Async calls of /api/v1 with the bearer token; errors become ApiError / Unreachable."""

    def __init__(self, target: Target, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.target = target
        self.url = target.url.rstrip("/")
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    @property
    def _http(self) -> httpx.AsyncClient:
        """The httpx client, made (and httpx imported) on the first request: the TUI's first
        frame comes from tui/start.py's fetch, before either is needed."""
        if self._client is None:
            import_httpx()
            import httpx

            headers = {"Authorization": f"Bearer {self.target.token}"} if self.target.token else {}
            # A plain HTTP controller needs no certificate: an SSL context that trusts none
            # saves loading certifi's bundle (its default), and would refuse any HTTPS.
            plain = plain_http(self.url, os.environ)
            self._client = httpx.AsyncClient(
                base_url=self.url,
                headers=headers,
                timeout=httpx.Timeout(15, read=None),
                transport=self._transport,
                verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT) if plain else True,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        http = self._http
        import httpx  # imported by _http

        try:
            response = await http.request(method, "/api/v1" + path, **kwargs)
        except httpx.TransportError as exc:
            raise unreachable(self.url, exc) from exc
        return answer_of(response.status_code, response.content, response.text, self.target.token_source)

    # What the screens read.
    async def health(self) -> Any:
        return await self.request("GET", "/health")

    async def apps(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request("GET", "/apps")
        return result

    async def app(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", f"/apps/{name}")
        return result

    async def releases(self, name: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request("GET", f"/apps/{name}/releases")
        return result

    async def domains(self, name: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request("GET", f"/apps/{name}/domains")
        return result

    async def config(self, name: str, *, reveal: bool = False) -> dict[str, str]:
        result: dict[str, str] = await self.request(
            "GET", f"/apps/{name}/config", params={"reveal": "true"} if reveal else {}
        )
        return result

    async def deploys(self, app: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        path = f"/apps/{app}/deploys" if app else "/deploys"
        result: list[dict[str, Any]] = await self.request("GET", path, params={"limit": limit})
        return result

    async def deploy(self, deploy_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", f"/deploys/{deploy_id}")
        return result

    async def stats(self, name: str) -> dict[str, Any] | None:
        """The app's stats, or None when this controller has no stats endpoint (yet)."""
        try:
            result: dict[str, Any] = await self.request("GET", f"/apps/{name}/stats")
        except ApiError as exc:
            if exc.status in ABSENT:
                return None
            raise
        return with_totals(result)

    async def whoami(self) -> dict[str, Any] | None:
        """Who the token is and what it may do, or None when this controller cannot say (yet)."""
        try:
            result: dict[str, Any] = await self.request("GET", "/whoami")
        except ApiError as exc:
            if exc.status in ABSENT:
                return None
            raise
        return result

    # What the keys do.
    async def redeploy(self, name: str) -> dict[str, Any]:
        """Rebuild the app's current source (the controller's redeploy endpoint)."""
        try:
            result: dict[str, Any] = await self.request("POST", f"/apps/{name}/redeploy")
        except ApiError as exc:
            if exc.status == 405 or (exc.status == 404 and "Not Found (HTTP" in str(exc)):
                raise ApiError(
                    "this controller cannot rebuild the current source: deploy with git push "
                    "or `dockyard deploy`",
                    exc.status,
                ) from exc
            raise
        return result

    async def rollback(self, name: str, to: int | None) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("POST", f"/apps/{name}/rollback", json={"to": to})
        return result

    async def restart(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("POST", f"/apps/{name}/restart")
        return result

    async def scale(self, name: str, web: int) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("POST", f"/apps/{name}/scale", json={"web": web})
        return result

    async def set_config(self, name: str, key: str, value: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "PATCH", f"/apps/{name}/config", json={"set": {key: value}}
        )
        return result

    async def cancel(self, deploy_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("POST", f"/deploys/{deploy_id}/cancel")
        return result

    # Streams.
    async def lines(
        self, path: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> AsyncIterator[str]:
        """The text lines of a streaming endpoint (logs, events) as they arrive."""
        http = self._http
        import httpx  # imported by _http

        try:
            async with http.stream("GET", "/api/v1" + path, params=params, headers=headers) as response:
                if response.status_code >= 400:
                    await response.aread()
                    status, source = response.status_code, self.target.token_source
                    raise ApiError(error_message(status, response.content, response.text, source), status)
                async for line in response.aiter_lines():
                    yield line
        except httpx.TransportError as exc:
            raise Unreachable(f"lost the connection to Dockyard: {str(exc) or type(exc).__name__}") from exc

    async def events(self, last_event_id: str | None = None) -> AsyncIterator[Event]:
        """The event stream, resumed after `last_event_id` (Last-Event-ID) when given.

        A `connected` event (no id) comes first, once the controller accepted the stream.
        """
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        kind: str = "message"
        event_id: str | None = None
        data: list[str] = []
        async for line in self.lines("/events", headers=headers):
            if not line:
                if data:
                    try:
                        body = json.loads("\n".join(data))
                    except ValueError:
                        body = {}
                    yield Event(kind, event_id, body if isinstance(body, dict) else {})
                kind, event_id, data = "message", None, []
            elif line.startswith(":"):
                if line == ": connected":
                    yield Event("connected", None, {})
            else:
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field == "event":
                    kind = value
                elif field == "id":
                    event_id = value
                elif field == "data":
                    data.append(value)


def with_totals(stats: dict[str, Any]) -> dict[str, Any]:
    """The app's stats plus its containers' CPU % and memory added up (`cpu_percent`,
    `memory_bytes`; None when no container reports one), as the apps table shows them."""
    containers = stats.get("containers") or []
    cpu = [c["cpu_percent"] for c in containers if c.get("cpu_percent") is not None]
    memory = [c["memory_used_bytes"] for c in containers if c.get("memory_used_bytes") is not None]
    return {
        **stats,
        "cpu_percent": sum(cpu) if cpu else None,
        "memory_bytes": sum(memory) if memory else None,
    }
