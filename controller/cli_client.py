"""What every `dockyard` command shares: the API client, the token lookup, one-line errors."""

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import click
import httpx

DEFAULT_URL = "http://127.0.0.1:8000"


class Client:
    """Talks to /api/v1 with the bearer token; turns HTTP errors into one-line messages."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=httpx.Timeout(60, read=None))

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, "/api/v1" + path, **kwargs)
        except httpx.TransportError as exc:
            fail(f"cannot reach Dockyard at {self.url}: {exc}")
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            fail(f"{detail} (HTTP {response.status_code})" if not isinstance(detail, list) else str(detail))
        return response.json() if response.content else None

    def stream_lines(self, path: str, **params: Any) -> Iterator[str]:
        try:
            with self._http.stream("GET", "/api/v1" + path, params=params) as response:
                if response.status_code >= 400:
                    response.read()
                    fail(f"{response.text} (HTTP {response.status_code})")
                yield from response.iter_lines()
        except httpx.TransportError as exc:
            fail(f"lost the connection to Dockyard: {exc}")


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _token() -> str | None:
    token = os.environ.get("DOCKYARD_TOKEN")
    if token:
        return token
    # Imported here: pydantic-settings costs ~0.3 s, and git-shell and the pre-receive hook
    # (this CLI, run on every push) never need it.
    from controller.settings import DEFAULT_DATA_DIR

    data_dir = Path(os.environ.get("DOCKYARD_DATA_DIR", str(DEFAULT_DATA_DIR)))
    try:
        return (data_dir / "admin.token").read_text().strip()
    except OSError:
        return None


def client_of(ctx: click.Context) -> Client:
    """The API client of this invocation (made once, from DOCKYARD_URL and the token)."""
    client: Client = ctx.ensure_object(dict).setdefault(
        "client", Client(os.environ.get("DOCKYARD_URL", DEFAULT_URL), _token())
    )
    return client


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))
