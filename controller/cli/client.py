"""The one HTTP client of the CLI: the API client with its token lookup, and the git user's client."""

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx

from controller.cli.output import fail

DEFAULT_URL = "http://127.0.0.1:8000"


class Client:
    """Talks to /api/v1 with the bearer token; turns HTTP errors into one-line messages."""

    def __init__(self, url: str, token: str | None, token_source: str = "") -> None:
        self.url = url.rstrip("/")
        self.token_source = token_source
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=httpx.Timeout(60, read=None))

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, "/api/v1" + path, **kwargs)
        except httpx.TransportError as exc:
            fail(f"cannot reach Dockyard at {self.url}: {exc}")
        if response.status_code >= 400:
            detail = _detail(response)
            if response.status_code == 401:
                fail(f"{detail} (HTTP 401); {self.token_source}")
            fail(f"{detail} (HTTP {response.status_code})" if not isinstance(detail, list) else str(detail))
        return response.json() if response.content else None

    def stream_lines(self, path: str, **params: Any) -> Iterator[str]:
        try:
            with self._http.stream("GET", "/api/v1" + path, params=params) as response:
                if response.status_code >= 400:
                    response.read()
                    hint = f"; {self.token_source}" if response.status_code == 401 else ""
                    fail(f"{response.text} (HTTP {response.status_code}){hint}")
                yield from response.iter_lines()
        except httpx.TransportError as exc:
            fail(f"lost the connection to Dockyard: {exc}")


def _token() -> tuple[str | None, str]:
    """The API token and, for a 401, where it came from (or where the CLI looked) and what to do."""
    set_it = "set DOCKYARD_TOKEN to an API token of this controller (export DOCKYARD_TOKEN=...)"
    token = os.environ.get("DOCKYARD_TOKEN")
    if token:
        return token, f"the token in DOCKYARD_TOKEN was refused: {set_it}"
    # Imported here: pydantic-settings costs ~0.3 s, and git-shell and the pre-receive hook
    # (this CLI, run on every push) never need it.
    from controller.settings import DEFAULT_DATA_DIR

    path = Path(os.environ.get("DOCKYARD_DATA_DIR", str(DEFAULT_DATA_DIR))) / "admin.token"
    try:
        return path.read_text().strip(), f"the token in {path} was refused: {set_it}"
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        return None, (
            f"no token: DOCKYARD_TOKEN is not set and {path} could not be read ({reason}); "
            f"{set_it}, or run the CLI as root on the server (the admin token is in {path})"
        )


def client_of(ctx: click.Context) -> Client:
    """The API client of this invocation (made once, from DOCKYARD_URL and the token)."""
    state = ctx.ensure_object(dict)
    if "client" not in state:
        token, source = _token()
        state["client"] = Client(os.environ.get("DOCKYARD_URL", DEFAULT_URL), token, source)
    client: Client = state["client"]
    return client


def _detail(response: httpx.Response) -> Any:
    """The `detail` of an error answer (a list for a validation error), else its text."""
    try:
        return response.json().get("detail", response.text)
    except ValueError:
        return response.text


def error_detail(response: httpx.Response) -> str:
    """An error answer's `detail` as one line (what the git user's commands print)."""
    return str(_detail(response)).strip()


def hook_client(data_dir: Path) -> httpx.Client:
    """A client of the controller with the hook token, from `<data dir>/git/hook.json`.

    git-shell and the pre-receive hook run as the git user without DOCKYARD_* settings.
    """
    try:
        config = json.loads((data_dir / "git" / "hook.json").read_text())
    except (OSError, ValueError) as exc:
        fail(
            f"cannot read the controller's address ({exc}): is the controller installed and started?",
            prefix="dockyard",
        )
    return httpx.Client(
        base_url=config["url"],
        headers={"Authorization": f"Bearer {config['token']}"},
        timeout=httpx.Timeout(30, read=None),
    )
