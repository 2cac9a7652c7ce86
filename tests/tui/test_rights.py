"""A token's rights in the TUI: what GET /whoami says greys keys out, and a greyed key says why
without calling the controller (Pilot over the fixed API of tests/tui/fake_api.py)."""

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static
from textual.widgets._footer import FooterKey

from tests.tui import fake_api
from tests.tui.test_screens import until
from tui.app import DockyardApp
from tui.client import Client, Target
from tui.rights import EVERYTHING, MUTATING_KEYS, rights_of
from tui.screens import GREYED, AppScreen, HelpScreen

pytestmark = pytest.mark.tui
KEYS = sorted(MUTATING_KEYS)  # R c d r s v x


def drive_as(token: str, steps: Callable[[DockyardApp, Pilot[None]], Awaitable[None]]) -> None:
    async def run() -> None:
        app = fake_api.fake_app(token)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.loaded.wait()
            await pilot.pause()
            await steps(app, pilot)

    fake_api.ACTIONS.clear()
    asyncio.run(run())


async def open_app(app: DockyardApp, pilot: Pilot[None], name: str) -> AppScreen:
    table = app.screen.query_one("#apps", DataTable)
    table.move_cursor(row=[str(k.value) for k in table.rows].index(name))
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, AppScreen))
    screen = app.screen
    assert isinstance(screen, AppScreen)
    await until(pilot, lambda: bool(screen.releases))
    return screen


def enabled_keys(screen: AppScreen) -> dict[str, bool]:
    return {key: binding.enabled for key, binding in screen.active_bindings.items() if key in MUTATING_KEYS}


def footer(screen: AppScreen) -> dict[str, bool]:
    """The footer's keys: description -> shown enabled."""
    return {key.description: not key.has_class("-disabled") for key in screen.query(FooterKey)}


def messages(app: DockyardApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


def greyed_in_help(help_screen: HelpScreen) -> set[str]:
    """The `key name` pieces of the help drawn greyed."""
    shown = help_screen.text
    return {shown.plain[span.start : span.end] for span in shown.spans if span.style == GREYED}


def test_a_viewer_sees_every_key_that_changes_an_app_greyed_and_told_why() -> None:
    async def steps(app: DockyardApp, pilot: Pilot[None]) -> None:
        screen = await open_app(app, pilot, "blog")
        assert enabled_keys(screen) == dict.fromkeys(KEYS, False)
        shown = footer(screen)
        assert not any(shown[name] for name in ("Deploy", "Rollback", "Restart", "Scale", "Config"))
        assert shown["Logs"] and shown["Build log"]  # reading stays
        assert "read only (viewer)" in str(screen.query_one("#status", Static).render())

        for key in KEYS:
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, AppScreen), key  # no dialog opened
        await until(pilot, lambda: len(messages(app)) >= len(KEYS))
        assert "your token may not deploy app blog (viewer)" in messages(app)
        assert "your token may not roll back app blog (viewer)" in messages(app)
        assert "your token may not change the config of app blog (viewer)" in messages(app)
        assert fake_api.ACTIONS == []  # the controller was never asked
        assert screen.revealed == {}

        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert isinstance(app.screen, HelpScreen)
        greyed = greyed_in_help(app.screen)
        assert greyed == {"d deploy", "r rollback", "R restart", "s scale", "c edit config"} | {
            "v reveal value",
            "x cancel deploy",
        }
        assert "your token may not use them here (viewer)" in app.screen.text.plain

    drive_as("viewer", steps)


def test_a_developer_of_other_apps_has_the_keys_only_on_its_own() -> None:
    async def steps(app: DockyardApp, pilot: Pilot[None]) -> None:
        blog = await open_app(app, pilot, "blog")
        assert enabled_keys(blog) == dict.fromkeys(KEYS, False)
        await pilot.press("R")
        await until(pilot, lambda: bool(messages(app)))
        assert messages(app) == ["your token may not restart app blog (developer of shop)"]
        assert fake_api.ACTIONS == []

        await pilot.press("escape")
        shop = await open_app(app, pilot, "shop")
        assert enabled_keys(shop) == dict.fromkeys(KEYS, True)
        assert "read only" not in str(shop.query_one("#status", Static).render())
        await pilot.press("R")
        await until(pilot, lambda: bool(fake_api.ACTIONS))
        assert fake_api.ACTIONS[-1][:2] == ("POST", "/apps/shop/restart")
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert isinstance(app.screen, HelpScreen)
        assert greyed_in_help(app.screen) == set()

    drive_as("shop-dev", steps)


def test_an_admin_has_every_key() -> None:
    async def steps(app: DockyardApp, pilot: Pilot[None]) -> None:
        screen = await open_app(app, pilot, "blog")
        assert app.rights.role == "admin" and app.rights.known
        assert enabled_keys(screen) == dict.fromkeys(KEYS, True)
        assert all(footer(screen).values())

    drive_as("good", steps)


def test_a_controller_without_whoami_leaves_the_keys_to_its_403s() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/whoami":
            return httpx.Response(404, json={"detail": "Not Found"})
        return fake_api.handler(request)

    async def run() -> None:
        client = Client(Target("http://dockyard.test", "viewer", ""), transport=httpx.MockTransport(handler))
        app = DockyardApp(client, live=False, clock=lambda: fake_api.NOW)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.loaded.wait()
            screen = await open_app(app, pilot, "blog")
            assert app.rights is EVERYTHING
            assert enabled_keys(screen) == dict.fromkeys(KEYS, True)

    asyncio.run(run())


def test_rights_follow_the_controllers_rule() -> None:
    viewer = rights_of({"role": "viewer", "apps": None, "actions": ["read"]})
    assert viewer.may("read", "web") and not viewer.may("operate", "web") and not viewer.may("operate")
    scoped = rights_of({"role": "developer", "apps": ["web", "api"], "actions": ["read", "operate"]})
    assert scoped.may("operate", "web") and not scoped.may("operate", "blog") and scoped.may("operate")
    assert scoped.refusal("scale", "blog") == "your token may not scale app blog (developer of api, web)"
    assert scoped.refused_keys("web") == set() and scoped.refused_keys("blog") == set(MUTATING_KEYS)
    hostile = rights_of({"role": "viewer\x1b[2J", "apps": None, "actions": ["read"]})
    assert "\x1b" not in hostile.refusal("deploy", "[b]x\x07")
    assert rights_of(None) is EVERYTHING
