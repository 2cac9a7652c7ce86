"""NO_COLOR: the frame the TUI draws has no colour at all, only bold, dim and reverse.

Textual 8 reads NO_COLOR itself but, in its default (truecolor) mode, only turns colours into
greys; the TUI switches it to ANSI mode, where its NoColor filter leaves the terminal's
default colours. The frame checked here is what Textual's compositor hands the terminal
driver (after the filters); tests/e2e/test_tui.py checks a real terminal (tmux).
"""

import asyncio
import io

import pytest
from rich.console import Console
from rich.segment import Segment

from tests.tui import fake_api
from tests.tui.colours import colour_codes
from tui.app import DockyardApp

pytestmark = pytest.mark.tui


def frame_segments(app: DockyardApp) -> list[Segment]:
    console = Console(width=80, height=24, file=io.StringIO(), force_terminal=True, color_system="truecolor")
    update = app.screen._compositor.render_update(full=True)
    assert update is not None
    return list(console.render(update))


def coloured(segments: list[Segment]) -> list[str]:
    """The text of segments drawn with a colour other than the terminal's default."""
    return [
        segment.text
        for segment in segments
        if segment.style is not None
        and any(c is not None and not c.is_default for c in (segment.style.color, segment.style.bgcolor))
    ]


def draw(*, open_blog: bool = False) -> list[Segment]:
    async def run() -> list[Segment]:
        app = fake_api.fake_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.loaded.wait()
            await pilot.pause()
            if open_blog:
                await pilot.press("down", "enter")
                await pilot.pause(0.3)
            return frame_segments(app)

    return asyncio.run(run())


def test_with_no_color_the_frame_has_no_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    for segments in (draw(), draw(open_blog=True)):
        text = "".join(s.text for s in segments)
        assert "blog" in text and "NAME" in text
        assert coloured(segments) == []
        # The table's cursor stays visible: reverse video instead of a coloured bar.
        cursor = "evil" if "NAME    " in text and "HEALTH" not in text else "dockyard-blog-web-1"
        assert any(s.style is not None and s.style.reverse and cursor in s.text for s in segments), cursor


def test_without_it_states_are_coloured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "running" in coloured(draw())


def test_colour_codes_of_terminal_output() -> None:
    assert colour_codes("\x1b[1m\x1b[0;7mx\x1b[0m\x1b[39m\x1b[49m\x1b[2;9my") == []
    assert colour_codes("\x1b[38;5;253ma\x1b[1;32mb\x1b[48;2;1;2;3mc") == [
        "\x1b[38;5;253m",
        "\x1b[1;32m",
        "\x1b[48;2;1;2;3m",
    ]
