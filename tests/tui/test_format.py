"""Pure helpers of the TUI: server text shown literally, ages, and what the inputs accept."""

from datetime import UTC, datetime

import pytest

from tui.format import age, duration, literal, parse_assignment, parse_scale, safe

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_escape_sequences_and_markup_stay_visible_text() -> None:
    line = "\x1b[2J[bold red]x[/]\x07\x9b"
    assert safe(line) == "\\x1b[2J[bold red]x[/]\\x07\\x9b"
    text = literal(line)
    assert text.plain == "\\x1b[2J[bold red]x[/]\\x07\\x9b"
    assert not text.spans  # no style came from the server's text
    assert safe("tab\tstays") == "tab\tstays"


def test_ages_and_durations() -> None:
    assert age("2026-12-01T11:59:30+00:00", NOW) == "30s"
    assert age("2026-12-01T09:00:00Z", NOW) == "3h"
    assert age(None, NOW) == "\u2013"
    assert (
        duration({"started_at": "2026-12-01T11:00:00+00:00", "finished_at": "2026-12-01T11:02:05+00:00"}, NOW)
        == "2m"
    )
    assert duration({"started_at": None}, NOW) == "\u2013"


@pytest.mark.parametrize("text", ["", "-1", "two", "1.5", "101", "3 4"])
def test_scale_input_refuses_what_is_not_a_count(text: str) -> None:
    with pytest.raises(ValueError):
        parse_scale(text)


def test_scale_and_config_inputs() -> None:
    assert parse_scale(" 3 ") == 3
    assert parse_assignment("KEY=a=b") == ("KEY", "a=b")
    assert parse_assignment("EMPTY=") == ("EMPTY", "")
    for bad in ("=value", "KEY", "  =x"):
        with pytest.raises(ValueError):
            parse_assignment(bad)
