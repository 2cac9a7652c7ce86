"""The TUI against a real controller (real Docker and nginx): Pilot and a tmux terminal.

Run apart from browser tests (TESTBED.md): `python -m pytest -m tui`.
"""

import asyncio
import os
import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import docker
import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, RichLog, Static

from tests.conftest import write_static_app
from tests.e2e.conftest import DOCKYARD, TOKEN, Controller, free_port
from tests.tui.colours import colour_codes
from tui.app import DockyardApp
from tui.client import Client, Target
from tui.screens import AppScreen, ConfirmScreen, LogScreen

pytestmark = [pytest.mark.integration, pytest.mark.tui]
# RUN steps cannot run on the tests' dockerd (no default bridge): the slow part of this
# deploy is the app's start (3 s before it listens), after the build's lines were written.
SLOW_START = 'CMD ["sh", "-c", "sleep 3; exec httpd -f -p $PORT -h /www"]\n'


async def until(pilot: Pilot[None], check: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"the TUI never showed {what}")
        await pilot.pause(0.05)


def plain(widget: Static) -> str:
    return str(widget.render())


def test_live_app_screen_deploy_log_rollback_crash_and_controller_restart(
    controller: Controller, tmp_path: Path
) -> None:
    ctl = controller
    ctl.cli("apps", "create", "tuiapp")
    source = write_static_app(tmp_path / "app", body="one")
    ctl.cli("deploy", "tuiapp", "--path", str(source))
    ctl.cli("deploy", "tuiapp", "--path", str(write_static_app(source, body="two")))
    with (source / "Dockerfile").open("a") as dockerfile:
        dockerfile.write(SLOW_START)

    async def run() -> None:
        app = DockyardApp(Client(Target(ctl.url, TOKEN, "")))
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.connection == "live", "the live event stream")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, AppScreen), "the app screen")
            screen = app.screen
            assert isinstance(screen, AppScreen)
            summary = screen.query_one("#summary", Static)
            await until(pilot, lambda: " v2 " in plain(summary), "release v2")

            # `d`: an app deployed from an uploaded directory has no source to rebuild (Dockyard
            # keeps none): the TUI shows the controller's words.
            await pilot.press("d")
            await until(
                pilot,
                lambda: any("does not keep" in str(n.message) for n in app._notifications),
                "the redeploy notice",
            )

            # A deploy started elsewhere shows up live; `b` streams its build log as it runs.
            deploy = asyncio.create_task(
                asyncio.to_thread(ctl.cli, "deploy", "tuiapp", "--path", str(source))
            )
            await until(pilot, lambda: app.state_of("tuiapp") == "deploying", "the running deploy")
            await pilot.press("b")
            await until(pilot, lambda: isinstance(app.screen, LogScreen), "the build log")
            logs = app.screen
            assert isinstance(logs, LogScreen)
            log = logs.query_one("#log", RichLog)
            await until(pilot, lambda: "Step 2/" in "\n".join(s.text for s in log.lines), "a build log line")
            assert app.running_deploy("tuiapp") is not None  # the line came while the deploy ran
            await until(pilot, lambda: logs.ended, "the end of the build log")
            await deploy
            await pilot.press("escape")
            await until(pilot, lambda: " v3 " in plain(summary), "release v3")

            # `r` asks, naming the target release; yes rolls back and the release changes.
            await pilot.press("r")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm dialog")
            assert app.screen.question == "Roll back tuiapp from v3 to v2?"  # type: ignore[attr-defined]
            await pilot.press("y")
            await until(pilot, lambda: " v2 " in plain(summary), "release v2 after the rollback")

            # A container killed behind the TUI's back: the state changes with no key pressed,
            # and comes back to running once the keeper (or a repair) started it again.
            states: set[str] = set()
            client = docker.from_env()
            (victim,) = client.containers.list(
                filters={"label": [f"io.dockyard.instance={ctl.instance}", "io.dockyard.app=tuiapp"]}
            )
            victim.kill()
            client.close()

            def seen(state: str) -> bool:
                states.add(app.state_of("tuiapp"))
                return state in states

            await until(pilot, lambda: seen("crashed") or seen("stopped"), "the killed container")
            row = app.screen_stack[1].query_one("#apps", DataTable).get_row("tuiapp")
            assert str(row[1]) in ("crashed", "stopped")  # on the apps screen too
            await until(pilot, lambda: app.state_of("tuiapp") == "running", "the app running again")

            # The controller restarts: "reconnecting", then live again with fresh state.
            await asyncio.to_thread(ctl.kill)
            status = screen.query_one("#status", Static)
            await until(pilot, lambda: "reconnecting" in plain(status), "reconnecting")
            await asyncio.to_thread(ctl.start)
            await until(pilot, lambda: app.connection == "live", "the stream resumed")
            await until(pilot, lambda: "reconnecting" not in plain(status), "the status line live again")
            await pilot.press("q")

    asyncio.run(run())


def test_a_viewer_token_has_the_app_keys_greyed_and_they_ask_the_controller_nothing(
    controller: Controller,
) -> None:
    ctl = controller
    ctl.cli("apps", "create", "seen")
    ctl.cli("users", "add", "vera", "--role", "viewer")
    viewer = ctl.cli("tokens", "create", "vera-cli", "--user", "vera").stdout.strip()

    async def run() -> None:
        app = DockyardApp(Client(Target(ctl.url, viewer, "")))
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.connection == "live", "the live event stream")
            assert (app.rights.role, app.rights.actions) == ("viewer", frozenset({"read"}))
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, AppScreen), "the app screen")
            screen = app.screen
            assert not screen.active_bindings["d"].enabled
            await pilot.press("d", "R", "s")
            await until(
                pilot,
                lambda: any(
                    str(n.message) == "your token may not deploy app seen (viewer)"
                    for n in app._notifications
                ),
                "the refusal",
            )
            assert app.screen is screen  # no scale dialog either
            await pilot.press("q")

    asyncio.run(run())
    # The controller records every refused change: none came from the TUI's keys.
    assert ctl.api("GET", "/audit", params={"user": "vera-cli"}).json() == []
    refused = httpx.post(ctl.url + "/api/v1/apps/seen/restart", headers={"Authorization": f"Bearer {viewer}"})
    assert refused.status_code == 403
    assert [e["outcome"] for e in ctl.api("GET", "/audit", params={"user": "vera-cli"}).json()] == ["denied"]


SOCKET = f"dockyard-tui-test-{os.getpid()}"  # a private tmux server: no other session is touched


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", SOCKET, *args], check=True, capture_output=True, text=True).stdout


def wait_screen(session: str, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", session)
        if text in screen:
            return screen
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared on the terminal:\n{screen}")


def wait_prompt(session: str, timeout: float = 30) -> None:
    """The shell's prompt (`$`, capture-pane drops the space) on the last line used: the TUI ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [line for line in tmux("capture-pane", "-p", "-t", session).splitlines() if line.strip()]
        if lines and lines[-1].strip() == "$":
            return
        time.sleep(0.1)
    raise AssertionError("the shell prompt never came back")


def tui_env(controller: Controller, **extra: str) -> str:
    """The variables `dockyard tui` needs, for a shell line (PYTHONPATH too: the code under test)."""
    variables = {"DOCKYARD_URL": controller.url, "DOCKYARD_TOKEN": TOKEN, **extra}
    if os.environ.get("PYTHONPATH"):
        variables["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return " ".join(f"{k}={shlex.quote(v)}" for k, v in variables.items())


def test_dockyard_tui_in_tmux_at_80x24_quits_and_restores_the_terminal(controller: Controller) -> None:
    controller.cli("apps", "create", "smoke")
    session = f"dockyard-tui-{os.getpid()}"
    env = tui_env(controller)
    tmux(
        "new-session",
        "-d",
        "-s",
        session,
        "-x",
        "80",
        "-y",
        "24",
        "env -i PATH=/usr/bin:/bin TERM=xterm-256color bash --norc --noprofile",
    )
    try:
        tmux("send-keys", "-t", session, f"export {env} PS1='$ '; {shlex.quote(DOCKYARD)} tui", "Enter")
        screen = wait_screen(session, "smoke")
        assert "NAME" in screen and "STATE" in screen
        assert max(len(line) for line in screen.splitlines()) <= 80
        assert colour_codes(tmux("capture-pane", "-p", "-e", "-t", session))  # NO_COLOR unset: colours
        tmux("send-keys", "-t", session, "?")
        wait_screen(session, ":apps :deploys :certs :audit :q")
        tmux("send-keys", "-t", session, "Escape")
        deadline = time.monotonic() + 10
        while ":apps :deploys" in tmux("capture-pane", "-p", "-t", session) and time.monotonic() < deadline:
            time.sleep(0.1)
        tmux("send-keys", "-t", session, "q")
        wait_prompt(session)
        assert tmux("display", "-p", "-t", session, "#{alternate_on}").strip() == "0"
        tmux("send-keys", "-t", session, "echo restored-$((40+2)) $?", "Enter")
        wait_screen(session, "restored-42 0")
        # Ctrl+C quits as cleanly as q.
        tmux("send-keys", "-t", session, f"clear; {shlex.quote(DOCKYARD)} tui", "Enter")
        wait_screen(session, "smoke")
        tmux("send-keys", "-t", session, "C-c")
        wait_prompt(session)
        assert tmux("display", "-p", "-t", session, "#{alternate_on}").strip() == "0"
        tmux("send-keys", "-t", session, "echo again-$((40+3)) $?", "Enter")
        wait_screen(session, "again-43 0")
    finally:
        subprocess.run(["tmux", "-L", SOCKET, "kill-server"], check=False)


def test_bad_start_exits_2_with_one_line(controller: Controller) -> None:
    wrong = subprocess.run(
        [DOCKYARD, "tui"],
        env={**controller.env, "DOCKYARD_TOKEN": "wrong"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode == 2
    assert "(HTTP 401); the token in DOCKYARD_TOKEN was refused" in wrong.stderr
    assert "Traceback" not in wrong.stderr

    down = subprocess.run(
        [DOCKYARD, "tui"],
        env={**controller.env, "DOCKYARD_URL": f"http://127.0.0.1:{free_port()}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert down.returncode == 2
    assert down.stderr.startswith("error: cannot reach Dockyard at http://127.0.0.1:")
    assert len(down.stderr.strip().splitlines()) == 1


def test_no_color_in_a_real_terminal_draws_without_colour_escapes(controller: Controller) -> None:
    controller.cli("apps", "create", "plain")
    session = f"dockyard-tui-nocolor-{os.getpid()}"
    tmux(
        "new-session",
        "-d",
        "-s",
        session,
        "-x",
        "80",
        "-y",
        "24",
        f"exec env {tui_env(controller, NO_COLOR='1', TERM='xterm-256color')} {shlex.quote(DOCKYARD)} tui",
    )
    try:
        wait_screen(session, "plain")
        time.sleep(1)  # the details and the live stream's status line drawn too
        screen = tmux("capture-pane", "-p", "-e", "-t", session)
        assert "NAME" in screen and "\x1b[" in screen  # escapes were captured: bold, reverse
        assert colour_codes(screen) == []
        tmux("send-keys", "-t", session, "Enter")
        wait_screen(session, "Containers")
        assert colour_codes(tmux("capture-pane", "-p", "-e", "-t", session)) == []
    finally:
        subprocess.run(["tmux", "-L", SOCKET, "kill-server"], check=False)
