"""The TUI's screens driven with Textual's Pilot over a fixed API (tests/tui/fake_api.py)."""

import asyncio
import json
from collections.abc import Awaitable, Callable

import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, RichLog, Static

from tests.tui import fake_api
from tui.app import DockyardApp
from tui.client import Client, Target
from tui.screens import AppScreen, ConfirmScreen, DeploysScreen, LogScreen

pytestmark = pytest.mark.tui


def drive(steps: Callable[[DockyardApp, Pilot[None]], Awaitable[None]]) -> None:
    async def run() -> None:
        app = fake_api.fake_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.loaded.wait()
            await pilot.pause()
            await steps(app, pilot)

    fake_api.ACTIONS.clear()
    asyncio.run(run())


async def until(pilot: Pilot[None], check: Callable[[], bool]) -> None:
    for _ in range(200):
        if check():
            return
        await pilot.pause(0.02)
    raise AssertionError("the screen never got there")


def log_text(log: RichLog) -> str:
    return "\n".join(strip.text for strip in log.lines)


async def open_blog(app: DockyardApp, pilot: Pilot[None]) -> AppScreen:
    table = app.screen.query_one("#apps", DataTable)
    table.move_cursor(row=[str(k.value) for k in table.rows].index("blog"))
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, AppScreen))
    screen = app.screen
    assert isinstance(screen, AppScreen)
    await until(pilot, lambda: bool(screen.releases))
    return screen


def test_a_hostile_build_log_line_is_shown_literally() -> None:
    async def steps(app: DockyardApp, pilot: Pilot[None]) -> None:
        await open_blog(app, pilot)
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, LogScreen) and app.screen.ended)
        text = log_text(app.screen.query_one("#log", RichLog))
        assert "\\x1b[2J[bold red]x[/] <script>" in text
        assert "\x1b" not in text

    drive(steps)


def test_filter_command_line_and_quit() -> None:
    async def steps(app: DockyardApp, pilot: Pilot[None]) -> None:
        table = app.screen.query_one("#apps", DataTable)
        assert table.row_count == 3
        await pilot.press("slash", "s", "h")
        await until(pilot, lambda: table.row_count == 1)
        await pilot.press("escape")
        await until(pilot, lambda: table.row_count == 3)
        await pilot.press("colon", *"deploys", "enter")
        await until(pilot, lambda: isinstance(app.screen, DeploysScreen))
        assert app.screen.query_one("#deploys", DataTable).row_count == 2
        await pilot.press("escape", "colon", "q", "enter")
        await until(pilot, lambda: app.return_code is not None)

    drive(steps)


def test_rollback_asks_naming_the_target_and_scale_refuses_bad_numbers() -> None:
    async def steps(app: DockyardApp, pilot: Pilot[None]) -> None:
        await open_blog(app, pilot)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.question == "Roll back blog from v3 to v2?"  # type: ignore[attr-defined]
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, AppScreen))
        assert fake_api.ACTIONS == []
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: bool(fake_api.ACTIONS))
        assert fake_api.ACTIONS[-1][:2] == ("POST", "/apps/blog/rollback")
        assert json.loads(fake_api.ACTIONS[-1][2]) == {"to": 2}
        await pilot.press("s", "ctrl+a", "ctrl+k", *"many", "enter")
        await until(pilot, lambda: isinstance(app.screen, AppScreen))
        await pilot.pause(0.1)
        assert len(fake_api.ACTIONS) == 1  # nothing sent for "many"
        await pilot.press("s", "ctrl+a", "ctrl+k", "3", "enter")
        await until(pilot, lambda: len(fake_api.ACTIONS) == 2)
        assert json.loads(fake_api.ACTIONS[-1][2]) == {"web": 3}

    drive(steps)


def test_config_values_are_masked_until_revealed() -> None:
    async def steps(app: DockyardApp, pilot: Pilot[None]) -> None:
        screen = await open_blog(app, pilot)
        table = screen.query_one("#config-table", DataTable)
        assert [str(c) for c in table.get_row("DATABASE_URL")] == ["DATABASE_URL", "********"]
        await pilot.press("v")
        await until(pilot, lambda: str(table.get_row("DATABASE_URL")[1]) == "postgres://u:p@db/x")
        assert str(table.get_row("SECRET")[1]) == "********"  # only the one under the cursor

    drive(steps)


def test_a_dropped_stream_shows_reconnecting_and_resumes_after_the_last_event() -> None:
    seen: list[str | None] = []
    stream = (
        ": connected\n\n"
        'event: deploy\nid: e1-5\ndata: {"id": "d-shop-8", "app": "shop", "kind": "build", '
        '"status": "failed", "release": null, "error": "boom"}\n\n'
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/events":
            seen.append(request.headers.get("last-event-id"))
            if len(seen) > 1:
                return httpx.Response(503, json={"detail": "too many open streams"})
            return httpx.Response(200, text=stream)  # then the stream ends, as when a controller dies
        return fake_api.handler(request)

    async def run() -> None:
        client = Client(Target("http://dockyard.test", "good", ""), transport=httpx.MockTransport(handler))
        app = DockyardApp(client, clock=lambda: fake_api.NOW)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: len(seen) >= 2)
            assert seen[:2] == [None, "e1-5"]
            assert app.deploys["d-shop-8"]["status"] == "failed"
            await until(pilot, lambda: app.connection == "reconnecting")
            assert "reconnecting" in str(app.screen.query_one("#status", Static).render())

    asyncio.run(run())
