"""The TUI's start: the first fetch (run beside the imports) is the controller check and what
the first frame shows, so the app does not ask for it again."""

import asyncio

import httpx
import pytest
from textual.widgets import DataTable

from tests.tui import fake_api
from tui.app import DockyardApp
from tui.client import ApiError, Client, Target
from tui.start import first_fetch

pytestmark = pytest.mark.tui


def counting_client(paths: list[str], token: str = "good") -> Client:
    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path.removeprefix("/api/v1"))
        return fake_api.handler(request)

    target = Target("http://dockyard.test", token, "the token in DOCKYARD_TOKEN was refused")
    return Client(target, transport=httpx.MockTransport(handler))


def test_the_first_fetch_has_the_list_and_the_first_screenful_of_details() -> None:
    paths: list[str] = []
    first = asyncio.run(first_fetch(counting_client(paths), screenful=True))

    assert isinstance(first.apps, list)
    assert sorted(app["name"] for app in first.apps) == sorted(fake_api.APPS)
    assert isinstance(first.deploys, list) and len(first.deploys) == len(fake_api.DEPLOYS)
    assert isinstance(first.whoami, dict) and first.whoami["role"] == "admin"
    assert set(first.details) == set(fake_api.APPS)
    assert first.details["shop"] == fake_api.details("shop")

    without = asyncio.run(first_fetch(counting_client([]), screenful=False))
    assert without.details == {}


def test_a_refused_token_is_kept_as_the_error_of_the_list() -> None:
    first = asyncio.run(first_fetch(counting_client([], token="wrong"), screenful=True))

    assert isinstance(first.apps, ApiError) and first.apps.status == 401
    assert "the token in DOCKYARD_TOKEN was refused" in str(first.apps)
    assert first.details == {}


def test_the_app_shows_the_first_fetch_and_fetches_only_the_rest() -> None:
    async def run() -> None:
        first = await first_fetch(fake_api.fake_client(), screenful=True)
        first.details.pop("shop")  # as if it were past the first screenful
        paths: list[str] = []
        app = DockyardApp(counting_client(paths), live=False, clock=lambda: fake_api.NOW, first=first)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.loaded.wait()
            await pilot.pause()
            table = app.screen.query_one("#apps", DataTable)
            assert str(table.get_row("blog")[1]) == "running"
            assert str(table.get_row("shop")[1]) == "deploying"  # its running deploy
            assert app.apps["shop"]["status"] == "crashed"  # fetched by the app
            assert app.first is None  # a resync fetches everything again
        details = [p for p in paths if p.startswith("/apps/") and p.count("/") == 2]
        assert details == ["/apps/shop"]
        assert "/apps" not in paths and "/deploys" not in paths and "/whoami" not in paths

    asyncio.run(run())


def test_the_first_frame_has_a_screenful_of_rows_and_the_loading_adds_the_rest() -> None:
    names = [f"app{n:02d}" for n in range(60)]
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v1")
        if path == "/apps":
            listed: list[dict[str, object]] = [
                {"name": n, "domains": [], "web_scale": 1, "current_release": None} for n in names
            ]
            return httpx.Response(200, json=listed)
        if path.startswith("/apps/") and path.count("/") == 2:
            await release.wait()  # the details of the rest: loading until released
            details = {"name": path[6:], "domains": [], "web_scale": 1, "current_release": None}
            return httpx.Response(200, json={**details, "status": "not-deployed", "containers": []})
        return fake_api.handler(request)

    async def run() -> None:
        target = Target("http://dockyard.test", "good", "")
        app = DockyardApp(Client(target, transport=httpx.MockTransport(handler)), live=False)
        async with app.run_test(size=(80, 24)) as pilot:
            table = app.screen.query_one("#apps", DataTable)
            for _ in range(100):
                if table.row_count:
                    break
                await pilot.pause(0.02)
            assert table.row_count == 24  # the rows a screen of 24 lines can show
            assert str(table.get_row("app00")[0]) == "app00"
            release.set()
            await app.loaded.wait()
            await pilot.pause()
            assert [str(key.value) for key in table.rows] == names

    asyncio.run(run())
