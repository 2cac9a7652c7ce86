"""Pure helpers of the TUI: server text made safe to show, ages and durations."""

import re
from datetime import UTC, datetime
from typing import Any

from rich.text import Text

# C0 controls (but tab), DEL and C1 controls: a log line's escape sequences must never reach
# the terminal; they are shown as their Python escapes instead (\x1b[2J stays visible text).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
MISSING = "\u2013"  # an en dash: no value
FINAL = frozenset({"succeeded", "failed", "cancelled", "superseded", "interrupted"})


def safe(text: object) -> str:
    """Server text with every control character replaced by its visible escape."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def literal(text: object, style: str = "") -> Text:
    """A Rich Text that shows the server's text as is: no markup, no escape sequences."""
    return Text(safe(text), style=style, no_wrap=False)


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def span(seconds: float) -> str:
    """A short human duration: 5s, 3m, 2h, 4d."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def age(value: Any, now: datetime) -> str:
    moment = parse_time(value)
    return span((now - moment).total_seconds()) if moment else MISSING


def duration(deploy: dict[str, Any], now: datetime) -> str:
    start = parse_time(deploy.get("started_at"))
    if start is None:
        return MISSING
    end = parse_time(deploy.get("finished_at")) or now
    return span((end - start).total_seconds())


def is_final(deploy: dict[str, Any]) -> bool:
    return str(deploy.get("status")) in FINAL


def parse_scale(text: str) -> int:
    """The number of web containers typed in the scale input (ValueError with the reason)."""
    text = text.strip()
    if not text.isdigit():
        raise ValueError(f"not a number of containers: {text!r}")
    number = int(text)
    if number > 100:
        raise ValueError("at most 100 web containers")
    return number


def parse_assignment(text: str) -> tuple[str, str]:
    """KEY=VALUE typed in the config input (ValueError with the reason)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError("type KEY=VALUE (the key may not be empty)")
    return key, value
