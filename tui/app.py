"""`dockyard tui`: a k9s-style live console of apps, deploys and logs over the HTTP API."""

import asyncio
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType

from tui.client import ApiError, Client, Event, Unreachable
from tui.format import FINAL, MISSING, is_final
from tui.rights import EVERYTHING, Rights, rights_of
from tui.screens import AppsScreen, Live
from tui.start import DETAIL_CHUNK, FirstFetch, first_fetch

RECONNECT_DELAY = 0.5
ALERT_RECHECK = 2.0  # seconds after a container event before its app is fetched again
DETAIL_FETCHES = 8  # concurrent GET /apps/{name} while loading


class DockyardApp(App[None]):
    """Holds the live state (apps, deploys) the screens show; follows the event stream."""

    TITLE = "Dockyard"
    CSS = """
    Screen { layout: vertical; }
    #status { height: 1; background: $boost; }
    #prompt { dock: bottom; display: none; }
    #prompt.shown { display: block; }
    DataTable { height: 1fr; }
    TabbedContent, ContentSwitcher, TabPane { height: 1fr; }
    TabPane { padding: 0; }
    /* Without colours (NO_COLOR) the cursor and the active tab are told apart by reverse video. */
    DataTable:nocolor > .datatable--cursor { text-style: reverse; }
    Tab:nocolor.-active { text-style: bold reverse; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "quit", "Quit", priority=True, show=False),
    ]

    def __init__(
        self,
        client: Client,
        *,
        live: bool = True,
        clock: Callable[[], datetime] | None = None,
        first: FirstFetch | None = None,
    ) -> None:
        # NO_COLOR as Textual reads it (set, whatever its value). Textual alone would turn the
        # colours into greys (its Monochrome filter still writes 256-colour and RGB escapes);
        # ANSI mode makes it use its NoColor filter instead: the terminal's default colours only.
        super().__init__(ansi_color=True if "NO_COLOR" in os.environ else None)
        self.client = client
        self.live = live
        self.clock = clock or (lambda: datetime.now(UTC))
        self.apps: dict[str, dict[str, Any]] = {}
        self.deploys: dict[str, dict[str, Any]] = {}
        self.stats: dict[str, dict[str, Any] | None] = {}
        self.stats_available: bool | None = None
        self.alerts: dict[str, str] = {}  # app -> "crashed"/"stopped" until its next good deploy
        self.rights: Rights = EVERYTHING  # until whoami answers: the controller's 403s say no
        self.connection = "connecting" if live else ""
        self.last_event_id: str | None = None
        self.loaded = asyncio.Event()
        self.first = first  # what `main` fetched already (its check of the controller)

    def on_mount(self) -> None:
        self.push_screen(AppsScreen())
        self.load()
        if self.live:
            self.follow_events()

    # State.
    @work(exclusive=True, group="load")
    async def load(self) -> None:
        await self.refresh_all()

    async def refresh_all(self) -> None:
        """Every app and deploy: the list first (one frame with every app), then each app's
        details in screen order, a chunk at a time, so the rows on screen fill first."""
        prefetched = self.first is not None
        first, self.first = self.first or await first_fetch(self.client), None
        apps, deploys, whoami = first.apps, first.deploys, first.whoami
        for answer in (apps, deploys, whoami):
            if isinstance(answer, ApiError):
                self.notify(str(answer), severity="error", markup=False)
                return
        assert not isinstance(apps, ApiError) and not isinstance(deploys, ApiError)
        assert not isinstance(whoami, ApiError)
        self.set_rights(rights_of(whoami))
        self.apps = {app["name"]: {**self.apps.get(app["name"], {}), **app} for app in apps}
        self.deploys = {d["id"]: d for d in deploys}
        for name, answer in first.details.items():
            if name in self.apps:
                self.keep_details(name, answer)
        self.changed(None)
        if prefetched:
            # The first frame first: the first request below makes the httpx client (imports
            # httpx, tens of milliseconds the event loop would spend before painting).
            await self.screen.wait_for_refresh()
        gate = asyncio.Semaphore(DETAIL_FETCHES)

        async def details(name: str) -> None:
            async with gate:
                try:
                    answer: dict[str, Any] | ApiError = await self.client.app(name)
                except ApiError as exc:
                    answer = exc
                self.keep_details(name, answer)

        names = sorted(self.apps)
        missing = [name for name in names if name not in first.details]
        for start in range(0, len(missing), DETAIL_CHUNK):
            await asyncio.gather(*(details(name) for name in missing[start : start + DETAIL_CHUNK]))
            self.changed(None)
        await self.refresh_stats(names)
        self.loaded.set()
        self.changed(None)

    def keep_details(self, name: str, answer: dict[str, Any] | ApiError) -> None:
        if isinstance(answer, ApiError):
            self.apps[name] = {**self.apps.get(name, {}), "status": "unknown", "containers": []}
        else:
            self.apps[name] = answer

    async def refresh_stats(self, names: list[str]) -> None:
        """The stats of `names`, DETAIL_FETCHES at a time; the first answer says whether this
        controller has a stats endpoint at all (else the columns show a dash)."""
        if self.stats_available is None and names:
            await self.fetch_stats(names[0])
            names = names[1:]
        if not self.stats_available:
            return
        gate = asyncio.Semaphore(DETAIL_FETCHES)

        async def one(name: str) -> None:
            async with gate:
                await self.fetch_stats(name)

        await asyncio.gather(*(one(name) for name in names))

    async def fetch_stats(self, name: str) -> None:
        try:
            self.stats[name] = await self.client.stats(name)
        except ApiError:
            self.stats[name] = None
        if self.stats_available is None:
            self.stats_available = self.stats[name] is not None

    async def refresh_app(self, name: str, *, keep_alert: bool = False) -> None:
        """The app's details again, and its stats unless it had no container before nor has
        one now (its stats have none either: a request saved for each config change of an
        app that is not deployed, a sixth of the TUI's CPU under such events)."""
        had = self.apps.get(name, {}).get("containers", True)
        try:
            self.apps[name] = await self.client.app(name)
        except ApiError as exc:
            if exc.status == 404:
                self.apps.pop(name, None)
        if not keep_alert and self.apps.get(name, {}).get("status") == "running":
            self.alerts.pop(name, None)
        if had or self.apps.get(name, {}).get("containers", True) or name not in self.stats:
            await self.refresh_stats([name])
        self.changed(name)

    def refetch(self, name: str, *, keep_alert: bool = False) -> None:
        """Fetch an app again beside the event stream, which goes on meanwhile (the next
        event is not kept waiting); a newer refetch of the same app replaces one under way."""
        self.run_worker(
            self.refresh_app(name, keep_alert=keep_alert), group=f"refetch {name}", exclusive=True
        )

    def latest_deploys(self) -> dict[str, dict[str, Any]]:
        """The newest deploy of every app, in one pass."""
        latest: dict[str, dict[str, Any]] = {}
        for deploy in self.deploys.values():
            app = str(deploy.get("app"))
            if app not in latest or str(deploy.get("created_at") or "") > str(
                latest[app].get("created_at") or ""
            ):
                latest[app] = deploy
        return latest

    def last_deploy(self, app: str) -> dict[str, Any] | None:
        mine = [d for d in self.deploys.values() if d.get("app") == app]
        return max(mine, key=lambda d: str(d.get("created_at") or ""), default=None)

    def running_deploy(self, app: str) -> dict[str, Any] | None:
        mine = [d for d in self.deploys.values() if d.get("app") == app and not is_final(d)]
        return max(mine, key=lambda d: str(d.get("created_at") or ""), default=None)

    def state_of(self, app: str) -> str:
        running = self.running_deploy(app)
        if running is not None and running.get("status") == "running":
            return "deploying"
        return self.alerts.get(app) or str(self.apps.get(app, {}).get("status", MISSING))

    def changed(self, app: str | None) -> None:
        """Tell every live screen that the state of `app` (None: everything) changed."""
        for screen in self.screen_stack:
            if isinstance(screen, Live):
                screen.state_changed(app)

    def set_rights(self, rights: Rights) -> None:
        """Keep what the token may do; the keys it may not use are greyed on every screen."""
        if rights == self.rights:
            return
        self.rights = rights
        for screen in self.screen_stack:
            if isinstance(screen, Live):
                screen.refresh_bindings()
                screen.show_status()

    def set_connection(self, text: str) -> None:
        self.connection = text
        for screen in self.screen_stack:
            if isinstance(screen, Live):
                screen.show_status()

    # The event stream.
    @work(exclusive=True, group="events")
    async def follow_events(self) -> None:
        await self.loaded.wait()
        dropped = False
        while True:
            try:
                async for event in self.client.events(self.last_event_id):
                    if event.type == "connected":
                        self.set_connection("live")
                        if dropped:  # what the missed events do not cover (stats, details)
                            dropped = False
                            await self.refresh_all()
                        continue
                    await self.handle_event(event)
            except ApiError as exc:
                if not isinstance(exc, Unreachable):
                    self.notify(str(exc), severity="error", markup=False)
            dropped = True
            self.set_connection("reconnecting")
            await asyncio.sleep(RECONNECT_DELAY)

    async def handle_event(self, event: Event) -> None:
        if event.id:
            self.last_event_id = event.id
        data = event.data
        app = str(data.get("app", ""))
        if event.type == "resync":
            await self.refresh_all()
        elif event.type == "deploy":
            known = self.deploys.get(str(data.get("id")), {})
            now = self.clock().isoformat()
            merged = {**known, **{k: v for k, v in data.items() if k != "release"}}
            merged.setdefault("created_at", now)
            merged["release_number"] = data.get("release")
            if data.get("status") == "running" and not merged.get("started_at"):
                merged["started_at"] = now
            if data.get("status") in FINAL and not merged.get("finished_at"):
                merged["finished_at"] = now
            self.deploys[str(data.get("id"))] = merged
            if data.get("status") == "succeeded":
                self.alerts.pop(app, None)
            self.changed(app)
            if data.get("status") in FINAL and app and not leaves_app_as_is(data):
                self.refetch(app)
        elif event.type == "container" and app:
            # Shown until the app is seen running again: the keeper or a repair may bring the
            # container back within a moment, so look again once ALERT_RECHECK has passed.
            self.alerts[app] = str(data.get("action", "crashed"))
            self.changed(app)
            self.refetch(app, keep_alert=True)
            self.set_timer(ALERT_RECHECK, lambda: self.refetch(app))
        elif event.type == "certificate" and app:
            self.changed(app)


def leaves_app_as_is(deploy: dict[str, Any]) -> bool:
    """A config change that succeeded with no release (the app is not deployed yet, or the
    config did not change) saved the config and touched no container: the app's details are
    the same, no need to fetch them again (a request and a redraw per config change)."""
    return (
        deploy.get("kind") == "config"
        and deploy.get("status") == "succeeded"
        and deploy.get("release") is None
    )
