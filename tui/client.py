"""The TUI's only way to the controller: its HTTP API, async, through httpx.

URL and token are found like the CLI finds them (DOCKYARD_URL / DOCKYARD_TOKEN, else the
local admin token in the data dir). This module never imports `controller` (import-linter).
"""

import importlib.util
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

# httpcore imports sniffio several times per request (to tell asyncio from trio). sniffio is
# not installed, and an import that fails searches sys.path again each time: 200 GETs took
# 0.71 s of CPU here, 0.38 s once None in sys.modules makes the import fail at once.
if importlib.util.find_spec("sniffio") is None:
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_DATA_DIR = "/var/lib/dockyard"  # the controller's default (controller/settings.py)


class ApiError(Exception):
    """An answer of the controller that is not a success, in one line a person can read."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Unreachable(ApiError):
    """The controller did not answer at all (down, restarting, wrong URL)."""


@dataclass(frozen=True)
class Target:
    """Where the controller is and how to authenticate, with a hint for a refused token."""

    url: str
    token: str | None
    token_source: str


def find_target(environ: dict[str, str] | None = None) -> Target:
    env = dict(os.environ if environ is None else environ)
    url = env.get("DOCKYARD_URL", DEFAULT_URL)
    set_it = "set DOCKYARD_TOKEN to an API token of this controller (export DOCKYARD_TOKEN=...)"
    token = env.get("DOCKYARD_TOKEN")
    if token:
        return Target(url, token, f"the token in DOCKYARD_TOKEN was refused: {set_it}")
    path = Path(env.get("DOCKYARD_DATA_DIR", DEFAULT_DATA_DIR)) / "admin.token"
    try:
        return Target(url, path.read_text().strip(), f"the token in {path} was refused: {set_it}")
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        return Target(
            url,
            None,
            f"no token: DOCKYARD_TOKEN is not set and {path} could not be read ({reason}); {set_it}",
        )


@dataclass(frozen=True)
class Event:
    """One Server-Sent Event of /api/v1/events."""

    type: str
    id: str | None
    data: dict[str, Any]


def _message(response: httpx.Response, token_source: str) -> str:
    try:
        detail: Any = response.json().get("detail", response.text)
    except (ValueError, AttributeError):
        detail = response.text
    if isinstance(detail, list):  # FastAPI's validation errors
        detail = "; ".join(
            str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in detail
        )
    text = f"{detail} (HTTP {response.status_code})"
    return f"{text}; {token_source}" if response.status_code == 401 and token_source else text


class Client:
    """Async calls of /api/v1 with the bearer token; errors become ApiError / Unreachable."""

    def __init__(self, target: Target, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.target = target
        self.url = target.url.rstrip("/")
        headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(15, read=None),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, "/api/v1" + path, **kwargs)
        except httpx.TransportError as exc:
            raise Unreachable(
                f"cannot reach Dockyard at {self.url}: {str(exc) or type(exc).__name__}"
            ) from exc
        if response.status_code >= 400:
            raise ApiError(_message(response, self.target.token_source), response.status_code)
        return response.json() if response.content else None

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
            if exc.status in (404, 405):
                return None
            raise
        return with_totals(result)

    async def whoami(self) -> dict[str, Any] | None:
        """Who the token is and what it may do, or None when this controller cannot say (yet)."""
        try:
            result: dict[str, Any] = await self.request("GET", "/whoami")
        except ApiError as exc:
            if exc.status in (404, 405):
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
        try:
            async with self._http.stream("GET", "/api/v1" + path, params=params, headers=headers) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise ApiError(_message(response, self.target.token_source), response.status_code)
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
