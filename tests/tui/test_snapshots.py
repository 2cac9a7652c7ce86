"""Snapshots (pytest-textual-snapshot) of the apps, app, deploys and logs screens at 80x24.

Fixed data from tests/tui/fake_api.py and a fixed clock; `--snapshot-update` rewrites them.
"""

from typing import Any

import pytest
from textual.pilot import Pilot

from tests.tui import fake_api
from tui.screens import LogScreen

pytestmark = pytest.mark.tui
SIZE = (80, 24)


async def loaded(pilot: Pilot[Any]) -> None:
    await pilot.app.loaded.wait()  # type: ignore[attr-defined]
    await pilot.pause()


async def on_blog(pilot: Pilot[Any]) -> None:
    await loaded(pilot)
    await pilot.press("down", "enter")
    await pilot.pause(0.3)


def test_apps_screen(snap_compare: Any) -> None:
    assert snap_compare(fake_api.fake_app(), terminal_size=SIZE, run_before=loaded)


def test_app_screen(snap_compare: Any) -> None:
    assert snap_compare(fake_api.fake_app(), terminal_size=SIZE, run_before=on_blog)


def test_deploys_screen(snap_compare: Any) -> None:
    async def deploys(pilot: Pilot[Any]) -> None:
        await loaded(pilot)
        await pilot.press("colon", *"deploys", "enter")
        await pilot.pause(0.2)

    assert snap_compare(fake_api.fake_app(), terminal_size=SIZE, run_before=deploys)


def test_logs_screen(snap_compare: Any) -> None:
    async def logs(pilot: Pilot[Any]) -> None:
        await on_blog(pilot)
        await pilot.press("b")
        for _ in range(100):
            screen = pilot.app.screen
            if isinstance(screen, LogScreen) and screen.ended:
                break
            await pilot.pause(0.02)

    assert snap_compare(fake_api.fake_app(), terminal_size=SIZE, run_before=logs)
