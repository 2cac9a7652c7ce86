"""`dockyard tui`'s start: the first fetch runs in a thread while the main thread imports the
console (Textual and the screens, most of the time to the first frame), so the first frame
can show the apps on screen with their state as soon as the console is up."""

import asyncio
import contextlib
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from tui.client import ApiError, Client, Target, find_target

DETAIL_CHUNK = 24  # apps whose details are fetched before the screen is redrawn (a screenful)


@dataclass
class FirstFetch:
    """What the first frame shows: the apps, the latest deploys and whoami (each its answer or
    the ApiError it raised), and the details of the first screenful of apps."""

    apps: list[dict[str, Any]] | ApiError
    deploys: list[dict[str, Any]] | ApiError
    whoami: dict[str, Any] | ApiError | None
    details: dict[str, dict[str, Any] | ApiError] = field(default_factory=dict)


async def first_fetch(client: Client, *, screenful: bool = False) -> FirstFetch:
    """The apps, deploys and whoami at once, then (`screenful`) the details of the first
    DETAIL_CHUNK apps at once; an ApiError is kept rather than raised."""
    apps, deploys, whoami = await asyncio.gather(
        client.apps(), client.deploys(limit=500), client.whoami(), return_exceptions=True
    )
    for answer in (apps, deploys, whoami):
        if isinstance(answer, BaseException) and not isinstance(answer, ApiError):
            raise answer
    first = FirstFetch(apps, deploys, whoami)
    if screenful and isinstance(apps, list):
        names = sorted(str(app["name"]) for app in apps)[:DETAIL_CHUNK]
        answers = await asyncio.gather(*(client.app(name) for name in names), return_exceptions=True)
        for name, answer in zip(names, answers, strict=True):
            if isinstance(answer, BaseException) and not isinstance(answer, ApiError):
                raise answer
            first.details[name] = answer
    return first


def prefetch(target: Target) -> FirstFetch:
    """The first fetch (with the first screenful's details), with its own client and loop."""

    async def fetch() -> FirstFetch:
        client = Client(target)
        try:
            return await first_fetch(client, screenful=True)
        finally:
            await client.aclose()

    return asyncio.run(fetch())


def main() -> None:
    """Start the TUI; a controller that does not answer or refuses the token exits 2."""
    target = find_target()
    fetched: list[FirstFetch | BaseException] = []

    def fetch() -> None:
        try:
            fetched.append(prefetch(target))
        except BaseException as exc:  # raised in the main thread below
            fetched.append(exc)

    thread = threading.Thread(target=fetch, name="first fetch", daemon=True)
    thread.start()
    from tui.app import DockyardApp  # the heavy imports, meanwhile

    thread.join()
    first = fetched[0]
    if isinstance(first, BaseException):
        raise first
    if isinstance(first.apps, ApiError):
        print(f"error: {first.apps}", file=sys.stderr)
        sys.exit(2)
    with contextlib.suppress(KeyboardInterrupt):
        DockyardApp(Client(target), first=first).run()
