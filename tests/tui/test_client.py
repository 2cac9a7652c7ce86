"""The TUI's HTTP client: event stream parsing, resume header, error messages, missing endpoints."""

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tui.client import ApiError, Client, Target, Unreachable, find_target

STREAM = (
    ": connected\n\n"
    'event: deploy\nid: e1-1\ndata: {"id": "d1", "app": "blog", "status": "running"}\n\n'
    ": keep-alive\n\n"
    "event: resync\nid: e1-2\ndata: {}\n\n"
)


def client_of(handler: Callable[[httpx.Request], httpx.Response], token: str = "t") -> Client:
    return Client(
        Target("http://dy.test", token, "the token in DOCKYARD_TOKEN was refused"),
        transport=httpx.MockTransport(handler),
    )


def test_events_are_parsed_and_resume_sends_last_event_id() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("last-event-id"))
        return httpx.Response(200, text=STREAM, headers={"content-type": "text/event-stream"})

    async def read() -> list[tuple[str, str | None, dict[str, object]]]:
        client = client_of(handler)
        return [(e.type, e.id, e.data) async for e in client.events("e0-9")]

    events = asyncio.run(read())
    assert events == [
        ("connected", None, {}),
        ("deploy", "e1-1", {"id": "d1", "app": "blog", "status": "running"}),
        ("resync", "e1-2", {}),
    ]
    assert seen == ["e0-9"]


def test_a_refused_token_says_where_it_came_from() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"detail": "invalid API token"})

    with pytest.raises(ApiError) as caught:
        asyncio.run(client_of(handler).apps())
    assert caught.value.status == 401
    assert str(caught.value) == "invalid API token (HTTP 401); the token in DOCKYARD_TOKEN was refused"


def test_missing_stats_endpoint_is_none_and_unreachable_is_its_own_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"detail": "Not Found"})

    assert asyncio.run(client_of(handler).stats("blog")) is None

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused")

    with pytest.raises(
        Unreachable, match=re.escape("cannot reach Dockyard at http://dy.test: Connection refused")
    ):
        asyncio.run(client_of(down).apps())


def test_target_from_the_environment_or_the_local_admin_token(tmp_path: Path) -> None:
    assert find_target({"DOCKYARD_URL": "http://x:1", "DOCKYARD_TOKEN": "abc"}).token == "abc"
    (tmp_path / "admin.token").write_text("local-admin\n")
    target = find_target({"DOCKYARD_DATA_DIR": str(tmp_path)})
    assert (target.url, target.token) == ("http://127.0.0.1:8000", "local-admin")
    missing = find_target({"DOCKYARD_DATA_DIR": str(tmp_path / "nope")})
    assert missing.token is None and "DOCKYARD_TOKEN is not set" in missing.token_source
