"""Where the controller is, how the TUI authenticates, and its errors in one line: the part of
the client that needs the standard library only, so that `dockyard tui` can start its first
fetch before httpx (and Textual) are imported (tui/start.py). `tui.client` re-exports it all.

URL and token are found like the CLI finds them (DOCKYARD_URL / DOCKYARD_TOKEN, else the
local admin token in the data dir). This module never imports `controller` (import-linter).
"""

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_DATA_DIR = "/var/lib/dockyard"  # the controller's default (controller/settings.py)
ABSENT = (404, 405)  # the statuses of an endpoint this controller does not have (yet)


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


def error_message(status: int, content: bytes, text: str, token_source: str) -> str:
    """The one line of an answer with `status` >= 400 (`content` its body, `text` decoded):
    its `detail` (FastAPI's), with the hint of where the token came from for a 401."""
    try:
        detail: Any = json.loads(content).get("detail", text)
    except (ValueError, AttributeError):
        detail = _not_json(text)
    if isinstance(detail, list):  # FastAPI's validation errors
        detail = "; ".join(
            str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in detail
        )
    message = f"{detail} (HTTP {status})"
    return f"{message}; {token_source}" if status == 401 and token_source else message


def _not_json(text: str) -> str:
    """What to show of a body that is not FastAPI's JSON: an HTML page (another server, a
    proxy's error page) is named, not printed; anything else is cut to its first line."""
    stripped = text.strip()
    if stripped.startswith("<"):
        return "an HTML page, not an answer of Dockyard's API (is DOCKYARD_URL right?)"
    first = stripped.splitlines()[0] if stripped else ""
    return first[:200] + ("..." if len(first) > 200 or "\n" in stripped else "")


def answer_of(status: int, content: bytes, text: str, token_source: str) -> Any:
    """The JSON of an answer with `status` (None when empty), whichever HTTP client got it.

    Raises:
        ApiError: an error status (`error_message`), or an answer that is not JSON (the URL
            is not Dockyard's API).
    """
    if status >= 400:
        raise ApiError(error_message(status, content, text, token_source), status)
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        raise ApiError(f"{_not_json(text) or 'an answer that is not JSON'} (HTTP {status})", status) from None


def unreachable(url: str, exc: BaseException) -> Unreachable:
    """The error of a request that got no answer from the controller at `url`."""
    return Unreachable(f"cannot reach Dockyard at {url}: {str(exc) or type(exc).__name__}")


def proxied(environ: Mapping[str, str]) -> bool:
    """Whether a proxy may apply to a plain HTTP request (http_proxy or all_proxy set, in
    either case, as urllib's getproxies reads them; their NO_PROXY is not looked into)."""
    return any(value and name.lower() in ("http_proxy", "all_proxy") for name, value in environ.items())


def plain_http(url: str, environ: Mapping[str, str]) -> bool:
    """Whether the controller at `url` is reached over plain HTTP, with no proxy between."""
    return url.lower().startswith("http://") and not proxied(environ)
