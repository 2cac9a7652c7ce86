"""What keeps the TUI cheap under a stream of events: a row's update repaints that row only,
and refetching an app after its deploy does not hold up the events behind it."""

import asyncio
from typing import Any

import httpx
import pytest
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from tests.tui import fake_api
from tests.tui.test_screens import until
from tui.app import DockyardApp
from tui.client import Client, Event, Target
from tui.table import LiveTable, cells_of

pytestmark = pytest.mark.tui


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LiveTable(id="t", cursor_type="row")

    def on_mount(self) -> None:
        table = self.query_one(LiveTable)
        table.add_columns("NAME", "STATE")
        for n in range(100):
            table.add_row(*cells_of([f"app{n:03d}", "-"]), key=f"app{n:03d}")


def count_rendered_lines(table: LiveTable) -> list[int]:
    """The y of every line the table renders from now on."""
    rendered: list[int] = []
    render_line = table.render_line

    def counting(y: int) -> Any:
        rendered.append(y)
        return render_line(y)

    table.render_line = counting  # type: ignore[method-assign]
    return rendered


def test_an_update_repaints_its_row_only_and_nothing_out_of_sight() -> None:
    async def run() -> None:
        app = TableApp()
        async with app.run_test(size=(40, 12)) as pilot:
            table = app.query_one(LiveTable)
            await pilot.pause()
            rendered = count_rendered_lines(table)
            await pilot.pause()
            rendered.clear()  # whatever the start left to draw

            table.update_row("app050", cells_of(["app050", "up"]))  # scrolled out of sight
            await pilot.pause()
            assert rendered == []
            assert str(table.get_row("app050")[1]) == "up"

            table.update_row("app002", cells_of(["app002", "run"]))  # the 3rd row, under the header
            await pilot.pause()
            assert rendered == [3]
            rendered.clear()

            table.update_row("app002", cells_of(["app002", "run"]))  # unchanged: nothing to do
            await pilot.pause()
            assert rendered == []

            # A cell wider than its column widens it (else it would be cut): the whole table.
            table.update_row("app001", cells_of(["app001", "deploying"]))
            await until(pilot, lambda: len(rendered) > 1)
            assert "deploying" in "".join(s.text for s in table.render_line(2))

    asyncio.run(run())


def test_refetching_an_app_after_its_deploy_does_not_hold_up_the_next_event() -> None:
    released = asyncio.Event()
    stream = (
        ": connected\n\n"
        'event: deploy\nid: e1-1\ndata: {"id": "d-blog-4", "app": "blog", "kind": "build", '
        '"status": "succeeded", "release": 4}\n\n'
        'event: deploy\nid: e1-2\ndata: {"id": "d-shop-9", "app": "shop", "kind": "config", '
        '"status": "queued", "release": null}\n\n'
    )
    blog_fetches = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal blog_fetches
        if request.url.path == "/api/v1/events":
            return httpx.Response(200, text=stream)
        if request.url.path == "/api/v1/apps/blog":
            blog_fetches += 1
            if blog_fetches > 1:  # the load's is the first; the refetch after the deploy hangs
                await released.wait()
        return fake_api.handler(request)

    async def run() -> None:
        client = Client(Target("http://dockyard.test", "good", ""), transport=httpx.MockTransport(handler))
        app = DockyardApp(client, clock=lambda: fake_api.NOW)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: "d-shop-9" in app.deploys)
            assert app.deploys["d-blog-4"]["status"] == "succeeded"
            assert blog_fetches == 2  # the refetch is under way, not done
            released.set()

    asyncio.run(run())


def test_an_update_renders_the_changed_cells_only_and_shows_them() -> None:
    async def run() -> None:
        app = TableApp()
        async with app.run_test(size=(40, 12)) as pilot:
            table = app.query_one(LiveTable)
            await pilot.pause()
            rendered: list[tuple[int, int]] = []
            render_cell = DataTable._render_cell

            def counting(self: DataTable[Any], row: int, column: int, *args: Any, **kwargs: Any) -> Any:
                rendered.append((row, column))
                return render_cell(self, row, column, *args, **kwargs)

            DataTable._render_cell = counting  # type: ignore[method-assign,assignment]
            try:
                table.update_row("app002", cells_of(["app002", "up"]))  # rendered once as it is now
                await pilot.pause()
                rendered.clear()
                table.update_row("app002", cells_of(["app002", "run"]))
                await pilot.pause()
                assert rendered == [(2, 1)]  # not the NAME beside it, nor the other rows
                assert "run" in "".join(s.text for s in table.render_line(3))
                rendered.clear()

                table.move_cursor(row=2)  # the cursor's style: both cells of the row again
                await pilot.pause()
                assert {(2, 0), (2, 1)} <= set(rendered)
                line = "".join(s.text for s in table.render_line(3))
                assert "app002" in line and "run" in line
            finally:
                DataTable._render_cell = render_cell  # type: ignore[method-assign]

    asyncio.run(run())


def test_after_a_deploy_an_app_without_containers_is_not_asked_for_its_stats_again() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v1")
        paths.append(path)
        if path.endswith("/stats"):
            app = path.split("/")[2]
            return httpx.Response(200, json={"app": app, "containers": [], "requests_per_second": None})
        if path == "/apps/shop":  # as if it were not deployed
            return httpx.Response(200, json={**fake_api.details("shop"), "containers": []})
        return fake_api.handler(request)

    def succeeded(app: str) -> Event:
        data = {"id": f"d-{app}-9", "app": app, "kind": "scale", "status": "succeeded", "release": None}
        return Event("deploy", "e1", data)

    async def run() -> None:
        client = Client(Target("http://dockyard.test", "good", ""), transport=httpx.MockTransport(handler))
        app = DockyardApp(client, live=False, clock=lambda: fake_api.NOW)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.loaded.wait()
            assert "/apps/shop/stats" in paths  # the load asks every app
            paths.clear()
            for name in ("shop", "blog"):  # no container; two containers
                await app.handle_event(succeeded(name))
            await until(pilot, lambda: all(w.is_finished for w in app.workers))
            assert sorted(paths) == ["/apps/blog", "/apps/blog/stats", "/apps/shop"]

    asyncio.run(run())


@pytest.mark.parametrize(
    ("kind", "status", "release", "fetched"),
    [
        ("config", "succeeded", None, False),  # config saved, no release: the app is the same
        ("config", "succeeded", 8, True),  # released: new containers
        ("config", "failed", None, True),  # a rollout that failed may have touched containers
        ("scale", "succeeded", None, True),
        ("build", "succeeded", 8, True),
    ],
)
def test_a_config_change_that_made_no_release_does_not_fetch_the_app_again(
    kind: str, status: str, release: int | None, fetched: bool
) -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path.removeprefix("/api/v1"))
        return fake_api.handler(request)

    async def run() -> None:
        client = Client(Target("http://dockyard.test", "good", ""), transport=httpx.MockTransport(handler))
        app = DockyardApp(client, live=False, clock=lambda: fake_api.NOW)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.loaded.wait()
            paths.clear()
            data = {"id": "d-blog-9", "app": "blog", "kind": kind, "status": status, "release": release}
            await app.handle_event(Event("deploy", "e1", data))
            await until(pilot, lambda: all(w.is_finished for w in app.workers))
            assert app.deploys["d-blog-9"]["status"] == status
            assert ("/apps/blog" in paths) is fetched

    asyncio.run(run())
