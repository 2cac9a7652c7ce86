"""The screens of the TUI: apps (home), one app, deploys, certificates, audit, logs, dialogs."""

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Input, Label, RichLog, Static, TabbedContent, TabPane

from tui.client import ApiError
from tui.format import MISSING, age, duration, is_final, literal, parse_assignment, parse_scale, safe
from tui.rights import MUTATING, MUTATING_KEYS, OPERATE
from tui.table import LiveTable, fill, fill_row, selected

if TYPE_CHECKING:
    from tui.app import DockyardApp

LOG_LINES = 10_000
HELP_TOP = """\
Apps         Enter open  / filter  : command  ? keys  q quit
Commands     :apps :deploys :certs :audit :q
"""
HELP_APP_KEYS = [
    [("d", "deploy"), ("r", "rollback"), ("R", "restart"), ("s", "scale"), ("l", "logs")],
    [("b", "build log"), ("c", "edit config"), ("v", "reveal value"), ("x", "cancel deploy")],
]
HELP_BOTTOM = """\
Deploys      Enter log
Logs         f follow on/off  / search  w wrap  Esc back
Everywhere   Esc back  Ctrl+C quit"""
GREYED = "dim strike"


def help_text(refused: Collection[str] = (), who: str = "") -> Text:
    """The keys, those in `refused` greyed (the token may not use them here)."""
    text = Text(HELP_TOP)
    for label, keys in zip(("App", ""), HELP_APP_KEYS, strict=True):
        text.append(f"{label:<13}")
        for index, (key, name) in enumerate(keys):
            text.append("  " if index else "")
            text.append(f"{key} {name}", style=GREYED if key in refused else "")
        text.append("\n")
    text.append(HELP_BOTTOM)
    if refused:
        text.append(f"\nGreyed       your token may not use them here ({safe(who)})")
    return text


class Live(Screen[None]):
    """A screen that redraws from the app's live state and shows the connection line."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("question_mark", "help", "Keys"),
        Binding("q", "quit_app", "Quit"),
    ]

    @property
    def dy(self) -> "DockyardApp":
        return self.app  # type: ignore[return-value]

    def status_text(self) -> str:
        return ""

    status_line: Text | None = None

    def show_status(self) -> None:
        """Draw the status line when it changed (each event asks): one line, no new layout."""
        line = Text(f" Dockyard {safe(self.dy.client.url)}  ", style="bold")
        connection = self.dy.connection
        line.append(connection, style="reverse" if connection == "reconnecting" else "")
        line.append(f"  {self.status_text()}")
        if not self.dy.rights.may(OPERATE, self.rights_app()):
            line.append(f"  read only ({safe(self.dy.rights.who())})", style="dim")
        if line == self.status_line:
            return
        for status in self.query("#status").results(Static):
            status.update(line, layout=False)  # its height is 1 (CSS)
            self.status_line = line

    def rights_app(self) -> str | None:
        """The app this screen acts on, whose rights decide what is greyed (None: no one app)."""
        return None

    def refused_keys(self) -> set[str]:
        return self.dy.rights.refused_keys(self.rights_app())

    ready = False

    def start_live(self) -> None:
        """Called by each screen's on_mount once its widgets are set up: draw, then follow."""
        self.ready = True
        self.state_changed(None)

    def state_changed(self, app: str | None) -> None:
        if not self.ready:
            return
        try:
            self.show_status()
            self.draw_state(app)
        except NoMatches:  # the screen is being torn down (quit) while an event came in
            pass

    def draw_state(self, app: str | None) -> None:
        """Redraw what shows `app` (None: everything) from the app's state."""

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(help_text(self.refused_keys(), self.dy.rights.who())))

    def action_quit_app(self) -> None:
        self.app.exit()

    async def act(self, what: str, call: Awaitable[Any]) -> Any:
        """Run an action of the API; its error (403 of a viewer, 409, ...) becomes a notice."""
        try:
            result = await call
        except ApiError as exc:
            self.notify(f"{what}: {exc}", severity="error", markup=False, timeout=8)
            return None
        self.notify(f"{what}: queued" if isinstance(result, dict) and "status" in result else f"{what}: done")
        return result


STATE_STYLE = {
    "running": "green",
    "deploying": "yellow",
    "degraded": "yellow",
    "crashed": "bold red",
    "stopped": "red",
    "failed": "red",
    "succeeded": "green",
}


def styled(state: str) -> Text:
    return literal(state, STATE_STYLE.get(state, ""))


class AppsScreen(Live):
    """Home: every app with its live state; `/` filters, `:` runs a command, Enter opens."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter"),
        Binding("colon", "command", "Command"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = ""
        self.mode = ""

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        yield LiveTable(id="apps", cursor_type="row", zebra_stripes=False)
        yield Input(id="prompt")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#apps", DataTable)
        table.add_columns("NAME", "STATE", "REL", "DOMAINS", "DEPLOY", "AGE", "CTR", "CPU", "MEM")
        self.start_live()

    def status_text(self) -> str:
        shown = f"{len(self.dy.apps)} apps" + ("" if self.dy.loaded.is_set() else "  loading")
        return f"{shown}  filter: {self.filter}" if self.filter else shown

    def draw_state(self, app: str | None) -> None:
        table = self.query_one("#apps", DataTable)
        now = self.dy.clock()
        if app is not None and app in self.dy.apps and app in table.rows:  # one app's event: its row
            fill_row(table, app, self.row(app, self.dy.last_deploy(app) or {}, now))
            return
        latest = self.dy.latest_deploys()
        names = [
            name for name in sorted(self.dy.apps) if not self.filter or self.filter.lower() in name.lower()
        ]
        if not table.row_count and not self.dy.loaded.is_set():
            # The first frame: the rows a screen can show. The loading redraws every row
            # next (adding and measuring all of them was a third of the way to that frame).
            names = names[: self.app.size.height]
        fill(table, [(name, self.row(name, latest.get(name, {}), now)) for name in names])

    def row(self, name: str, last: dict[str, Any], now: datetime) -> list[Any]:
        details = self.dy.apps[name]
        release = details.get("current_release")
        stats = self.dy.stats.get(name) or {}
        running = sum(1 for c in details.get("containers") or [] if c.get("state") == "running")
        domains = details.get("domains") or []
        return [
            name,
            styled(self.dy.state_of(name)),
            f"v{release}" if release else MISSING,
            (domains[0] + (f" +{len(domains) - 1}" if len(domains) > 1 else "")) if domains else "",
            styled(str(last.get("status", MISSING))),
            age(last.get("created_at"), now),
            f"{running}/{details.get('web_scale', 0)}",
            _stat(stats.get("cpu_percent"), "{:.0f}%"),
            _stat(stats.get("memory_bytes"), "{}", megabytes=True),
        ]

    def refused_keys(self) -> set[str]:
        """The app keys greyed for the app under the cursor."""
        return self.dy.rights.refused_keys(selected(self.query_one("#apps", DataTable)))

    def action_filter(self) -> None:
        self._ask("filter", "/", self.filter)

    def action_command(self) -> None:
        self._ask("command", ":", "")

    def _ask(self, mode: str, placeholder: str, value: str) -> None:
        prompt = self.query_one("#prompt", Input)
        self.mode = mode
        prompt.placeholder = placeholder
        prompt.value = value
        prompt.add_class("shown")
        prompt.focus()

    @on(Input.Changed, "#prompt")
    def typed(self, event: Input.Changed) -> None:
        if self.mode == "filter":
            self.filter = event.value
            self.state_changed(None)

    @on(Input.Submitted, "#prompt")
    def submitted(self, event: Input.Submitted) -> None:
        prompt = self.query_one("#prompt", Input)
        prompt.remove_class("shown")
        self.query_one("#apps", DataTable).focus()
        if self.mode == "command":
            self.run_command(event.value.strip().lstrip(":"))
        self.mode = ""

    def action_back(self) -> None:
        """Esc closes the prompt; on the filter (or with no prompt open) it clears the filter."""
        prompt = self.query_one("#prompt", Input)
        if not prompt.has_class("shown") or self.mode == "filter":
            self.filter = ""
        prompt.remove_class("shown")
        self.mode = ""
        self.query_one("#apps", DataTable).focus()
        self.state_changed(None)

    def run_command(self, command: str) -> None:
        screens: dict[str, Callable[[], Screen[Any]]] = {
            "deploys": DeploysScreen,
            "certs": CertsScreen,
            "audit": AuditScreen,
        }
        if command in ("q", "quit"):
            self.app.exit()
        elif command == "apps":
            while len(self.app.screen_stack) > 2:
                self.app.pop_screen()
        elif command in screens:
            self.app.push_screen(screens[command]())
        elif command:
            self.notify(
                f"unknown command :{safe(command)} (try :apps :deploys :certs :audit :q)", markup=False
            )

    @on(DataTable.RowSelected, "#apps")
    def action_open(self) -> None:
        name = selected(self.query_one("#apps", DataTable))
        if name:
            self.app.push_screen(AppScreen(name))


def _stat(value: Any, form: str, *, megabytes: bool = False) -> str:
    if not isinstance(value, int | float):
        return MISSING
    return f"{value / 2**20:.0f}M" if megabytes else form.format(value)


class AppScreen(Live):
    """One app: releases, domains and certificates, config (masked), containers; keys act."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "deploy", "Deploy"),
        Binding("r", "rollback", "Rollback"),
        Binding("R", "restart", "Restart"),
        Binding("s", "scale", "Scale"),
        Binding("l", "logs", "Logs"),
        Binding("b", "build_log", "Build log"),
        Binding("c", "edit_config", "Config"),
        Binding("v", "reveal", "Reveal", show=False),
        Binding("x", "cancel", "Cancel", show=False),
        # A greyed key (the binding above it disabled by check_action) says why, asking no one.
        *(Binding(key, f"refused('{action}')", show=False) for key, action in MUTATING_KEYS.items()),
    ]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.app_name = name
        self.releases: list[dict[str, Any]] = []
        self.domains: list[dict[str, Any]] = []
        self.config: dict[str, str] = {}
        self.revealed: dict[str, str] = {}
        self.summary = Text()

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        yield Static(id="summary")
        with TabbedContent(initial="containers"):
            with TabPane("Containers", id="containers"):
                yield LiveTable(id="containers-table", cursor_type="row")
            with TabPane("Releases", id="releases"):
                yield LiveTable(id="releases-table", cursor_type="row")
            with TabPane("Domains", id="domains"):
                yield LiveTable(id="domains-table", cursor_type="row")
            with TabPane("Config", id="config"):
                yield LiveTable(id="config-table", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#containers-table", DataTable).add_columns(
            "NAME", "STATE", "HEALTH", "REL", "RESTARTS", "UP"
        )
        self.query_one("#releases-table", DataTable).add_columns("REL", "", "AGE", "DESCRIPTION")
        self.query_one("#domains-table", DataTable).add_columns("DOMAIN", "CERT", "UNTIL", "LAST ERROR")
        self.query_one("#config-table", DataTable).add_columns("KEY", "VALUE")
        self.start_live()

    def status_text(self) -> str:
        return self.app_name

    def rights_app(self) -> str | None:
        return self.app_name

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The keys that change the app are greyed (None: shown disabled) when the token may not."""
        if action in MUTATING and not self.dy.rights.may(OPERATE, self.app_name):
            return None
        return True

    def action_refused(self, action: str) -> None:
        self.notify(self.dy.rights.refusal(action, self.app_name), severity="warning", markup=False)

    @work(exclusive=True, group="reload")
    async def reload(self) -> None:
        client = self.dy.client
        try:
            self.releases, self.domains, self.config = await asyncio.gather(
                client.releases(self.app_name), client.domains(self.app_name), client.config(self.app_name)
            )
        except ApiError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self.draw()

    def draw_state(self, app: str | None) -> None:
        if app in (None, self.app_name):
            self.draw()
            self.reload()

    def draw(self) -> None:
        now = self.dy.clock()
        details = self.dy.apps.get(self.app_name, {})
        stats = self.dy.stats.get(self.app_name) or {}
        last = self.dy.last_deploy(self.app_name) or {}
        summary = Text()
        summary.append(f" {safe(self.app_name)} ", style="bold")
        summary.append_text(styled(self.dy.state_of(self.app_name)))
        release = details.get("current_release")
        summary.append(f"  {f'v{release}' if release else MISSING} x{details.get('web_scale', 0)}")
        summary.append(f"  {safe(last.get('kind', MISSING))} {safe(last.get('status', ''))}")
        summary.append(f"  req/s {_stat(stats.get('requests_per_second'), '{:.1f}')}")
        summary.append(f"  5xx/s {_stat(stats.get('errors_per_second'), '{:.1f}')}")
        if summary != self.summary:
            self.summary = summary
            self.query_one("#summary", Static).update(summary)
        fill(
            self.query_one("#containers-table", DataTable),
            [
                (
                    str(c.get("id")),
                    [
                        c.get("name", ""),
                        styled(str(c.get("state", ""))),
                        c.get("health") or MISSING,
                        f"v{c.get('release')}",
                        str(c.get("restarts", 0)),
                        age(c.get("started_at"), now),
                    ],
                )
                for c in details.get("containers") or []
            ],
        )
        fill(
            self.query_one("#releases-table", DataTable),
            [
                (
                    str(r["number"]),
                    [
                        f"v{r['number']}",
                        "current" if r.get("current") else "",
                        age(r.get("created_at"), now),
                        r.get("description", ""),
                    ],
                )
                for r in self.releases
            ],
        )
        fill(
            self.query_one("#domains-table", DataTable),
            [
                (
                    str(d["domain"]),
                    [
                        d["domain"],
                        styled(str(d.get("certificate"))),
                        (d.get("valid_until") or MISSING)[:10],
                        d.get("last_error") or "",
                    ],
                )
                for d in self.domains
            ],
        )
        fill(
            self.query_one("#config-table", DataTable),
            [(key, [key, self.revealed.get(key, value)]) for key, value in sorted(self.config.items())],
        )

    def current_release(self) -> int | None:
        value = self.dy.apps.get(self.app_name, {}).get("current_release")
        return int(value) if isinstance(value, int) else None

    def rollback_target(self) -> int | None:
        """The release under the cursor on the Releases tab, else the one before the current."""
        current = self.current_release()
        if self.query_one(TabbedContent).active == "releases":
            chosen = selected(self.query_one("#releases-table", DataTable))
            if chosen and int(chosen) != current:
                return int(chosen)
        older = [r["number"] for r in self.releases if current is not None and r["number"] < current]
        return max(older, default=None)

    @work(group="action")
    async def action_deploy(self) -> None:
        await self.act(f"deploy {self.app_name}", self.dy.client.redeploy(self.app_name))

    @work(group="action")
    async def action_rollback(self) -> None:
        target = self.rollback_target()
        if target is None:
            self.notify(
                f"{self.app_name} has no older release to roll back to", severity="warning", markup=False
            )
            return
        current = self.current_release()
        question = f"Roll back {self.app_name} from v{current} to v{target}?"
        if await self.app.push_screen_wait(ConfirmScreen(question)):
            await self.act(f"rollback to v{target}", self.dy.client.rollback(self.app_name, target))

    @work(group="action")
    async def action_restart(self) -> None:
        await self.act(f"restart {self.app_name}", self.dy.client.restart(self.app_name))

    @work(group="action")
    async def action_scale(self) -> None:
        scale = self.dy.apps.get(self.app_name, {}).get("web_scale", 1)
        answer = await self.app.push_screen_wait(PromptScreen("Web containers", str(scale)))
        if answer is None:
            return
        try:
            web = parse_scale(answer)
        except ValueError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        await self.act(f"scale web={web}", self.dy.client.scale(self.app_name, web))

    @work(group="action")
    async def action_edit_config(self) -> None:
        key = ""
        if self.query_one(TabbedContent).active == "config":
            key = selected(self.query_one("#config-table", DataTable)) or ""
        answer = await self.app.push_screen_wait(PromptScreen("KEY=VALUE", f"{key}=" if key else ""))
        if answer is None:
            return
        try:
            key, value = parse_assignment(answer)
        except ValueError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        await self.act(f"set {key}", self.dy.client.set_config(self.app_name, key, value))

    @work(group="action")
    async def action_reveal(self) -> None:
        self.query_one(TabbedContent).active = "config"
        key = selected(self.query_one("#config-table", DataTable))
        if key is None:
            return
        if key in self.revealed:
            del self.revealed[key]
        else:
            values = await self.act(f"reveal {key}", self.dy.client.config(self.app_name, reveal=True))
            if values is None:
                return
            self.revealed[key] = values.get(key, "")
        self.draw()

    @work(group="action")
    async def action_cancel(self) -> None:
        running = self.dy.running_deploy(self.app_name)
        if running is None:
            self.notify(f"{self.app_name} has no running or queued deploy", markup=False)
            return
        await self.act(f"cancel {running['id']}", self.dy.client.cancel(str(running["id"])))

    def action_logs(self) -> None:
        self.app.push_screen(
            LogScreen(
                f"logs of {self.app_name}", f"/apps/{self.app_name}/logs", {"follow": "true", "tail": 200}
            )
        )

    def action_build_log(self) -> None:
        deploy = self.dy.running_deploy(self.app_name) or self.dy.last_deploy(self.app_name)
        if deploy is None:
            self.notify(f"{self.app_name} has no deploy yet", markup=False)
            return
        self.app.push_screen(deploy_log(deploy))


def deploy_log(deploy: dict[str, Any]) -> "LogScreen":
    params = {} if is_final(deploy) else {"follow": "true"}
    title = f"{deploy.get('kind', 'deploy')} {deploy['id']} of {deploy.get('app', '')}"
    return LogScreen(title, f"/deploys/{deploy['id']}/log", params)


class DeploysScreen(Live):
    """Every deploy job, live; Enter shows its log (streamed while it runs)."""

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        yield LiveTable(id="deploys", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#deploys", DataTable).add_columns("ID", "APP", "KIND", "STATUS", "REL", "TOOK", "AGE")
        self.start_live()

    def status_text(self) -> str:
        return "deploys"

    def draw_state(self, app: str | None) -> None:
        now = self.dy.clock()
        deploys = sorted(self.dy.deploys.values(), key=lambda d: str(d.get("created_at") or ""), reverse=True)
        fill(
            self.query_one("#deploys", DataTable),
            [
                (
                    str(d["id"]),
                    [
                        str(d["id"])[:12],
                        d.get("app", ""),
                        d.get("kind", ""),
                        styled(str(d.get("status", ""))),
                        f"v{d['release_number']}" if d.get("release_number") else MISSING,
                        duration(d, now),
                        age(d.get("created_at"), now),
                    ],
                )
                for d in deploys
            ],
        )

    @on(DataTable.RowSelected, "#deploys")
    def action_open(self) -> None:
        deploy_id = selected(self.query_one("#deploys", DataTable))
        if deploy_id and deploy_id in self.dy.deploys:
            self.app.push_screen(deploy_log(self.dy.deploys[deploy_id]))


class CertsScreen(Live):
    """Every app's domains with their certificate state and the CA's last error."""

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        yield LiveTable(id="certs", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#certs", DataTable).add_columns("APP", "DOMAIN", "CERT", "UNTIL", "LAST ERROR")
        self.start_live()

    def status_text(self) -> str:
        return "certificates"

    def draw_state(self, app: str | None) -> None:
        self.reload()

    @work(exclusive=True, group="reload")
    async def reload(self) -> None:
        rows = []
        for name in sorted(self.dy.apps):
            try:
                domains = await self.dy.client.domains(name)
            except ApiError as exc:
                self.notify(str(exc), severity="error", markup=False)
                return
            for d in domains:
                rows.append(
                    (
                        f"{name} {d['domain']}",
                        [
                            name,
                            d["domain"],
                            styled(str(d.get("certificate"))),
                            (d.get("valid_until") or MISSING)[:10],
                            d.get("last_error") or "",
                        ],
                    )
                )
        fill(self.query_one("#certs", DataTable), rows)


class AuditScreen(Live):
    """The controller's audit log, when it has one (GET /api/v1/audit)."""

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        yield RichLog(id="audit", markup=False, wrap=True)
        yield Footer()

    def status_text(self) -> str:
        return "audit"

    def on_mount(self) -> None:
        self.start_live()
        self.reload()

    @work(exclusive=True, group="reload")
    async def reload(self) -> None:
        log = self.query_one("#audit", RichLog)
        try:
            entries = await self.dy.client.request("GET", "/audit")
        except ApiError as exc:
            missing = exc.status == 404
            log.write(literal("this controller has no audit log yet" if missing else str(exc)))
            return
        for entry in entries if isinstance(entries, list) else []:
            log.write(
                literal(" ".join(f"{k}={v}" for k, v in entry.items()) if isinstance(entry, dict) else entry)
            )


class LogScreen(Live):
    """A container or build log: streamed, `f` follow on/off, `/` search, `w` wrap."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "follow", "Follow"),
        Binding("slash", "search", "Search"),
        Binding("w", "wrap", "Wrap"),
    ]

    def __init__(self, title: str, path: str, params: dict[str, Any]) -> None:
        super().__init__()
        self.title_text = title
        self.path = path
        self.params = params
        self.lines: deque[str] = deque(maxlen=LOG_LINES)
        self.search = ""
        self.wrap = False
        self.follow = True
        self.ended = False

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        yield RichLog(id="log", markup=False, highlight=False, wrap=False, max_lines=LOG_LINES)
        yield Input(id="prompt", placeholder="search")
        yield Footer()

    def on_mount(self) -> None:
        self.start_live()
        self.query_one("#log", RichLog).focus()
        self.stream()

    def status_text(self) -> str:
        flags = [
            "follow" if self.follow else "paused",
            "wrap" if self.wrap else "",
            f"search: {self.search}" if self.search else "",
            "ended" if self.ended else "",
        ]
        return f"{self.title_text}  " + " ".join(flag for flag in flags if flag)

    @work(exclusive=True, group="stream")
    async def stream(self) -> None:
        try:
            async for line in self.dy.client.lines(self.path, params=self.params):
                self.add(line)
        except ApiError as exc:
            self.add(f"-- {exc}")
        self.ended = True
        self.show_status()

    def add(self, line: str) -> None:
        self.lines.append(line)
        if not self.search or self.search.lower() in line.lower():
            self.query_one("#log", RichLog).write(literal(line), scroll_end=self.follow)

    def redraw(self) -> None:
        log = self.query_one("#log", RichLog)
        log.clear()
        log.wrap = self.wrap
        needle = self.search.lower()
        for line in self.lines:
            if not needle or needle in line.lower():
                log.write(literal(line), scroll_end=self.follow)
        self.show_status()

    def action_follow(self) -> None:
        self.follow = not self.follow
        self.query_one("#log", RichLog).auto_scroll = self.follow
        if self.follow:
            self.query_one("#log", RichLog).scroll_end(animate=False)
        self.show_status()

    def action_wrap(self) -> None:
        self.wrap = not self.wrap
        self.redraw()

    def action_search(self) -> None:
        prompt = self.query_one("#prompt", Input)
        prompt.value = self.search
        prompt.add_class("shown")
        prompt.focus()

    @on(Input.Submitted, "#prompt")
    def searched(self, event: Input.Submitted) -> None:
        self.query_one("#prompt", Input).remove_class("shown")
        self.search = event.value
        self.query_one("#log", RichLog).focus()
        self.redraw()

    def action_back(self) -> None:
        prompt = self.query_one("#prompt", Input)
        if prompt.has_class("shown"):
            prompt.remove_class("shown")
            self.query_one("#log", RichLog).focus()
            return
        super().action_back()


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close"),
        Binding("q", "dismiss", "Close"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Static { width: auto; max-width: 78; border: round $accent; padding: 0 1; }
    """

    def __init__(self, text: Text | None = None) -> None:
        super().__init__()
        self.text = text if text is not None else help_text()

    def compose(self) -> ComposeResult:
        yield Static(self.text)


class ConfirmScreen(ModalScreen[bool]):
    """Yes or no to one question (Enter/y yes, Esc/n no)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "No"),
    ]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 60; height: auto; border: thick $warning; padding: 0 1; }
    ConfirmScreen Horizontal { height: auto; align: center middle; }
    """

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(literal(self.question))
            with Horizontal():
                yield Button("Yes", id="yes", variant="warning")
                yield Button("No", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class PromptScreen(ModalScreen[str | None]):
    """One line of input (Enter submits, Esc cancels)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    PromptScreen { align: center middle; }
    PromptScreen > Vertical { width: 60; height: auto; border: thick $accent; padding: 0 1; }
    """

    def __init__(self, label: str, value: str) -> None:
        super().__init__()
        self.label = label
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(literal(self.label))
            yield Input(value=self.value, id="answer")

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)
