"""The crash log and the app status it steadies: a crash loop reads `crashed` between crashes too."""

from datetime import UTC, datetime, timedelta

from controller.domain.models import App, ContainerExit, ContainerInfo
from controller.services.apps import app_status
from controller.services.crashes import CRASH_WINDOW, CrashLog

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _exit(at: datetime, *, release: int = 2, crashed: bool = True, code: int = 3) -> ContainerExit:
    return ContainerExit(
        app="web", release=release, process="web", container="c", exit_code=code, at=at, crashed=crashed
    )


def test_recent_crashes_of_the_current_release_newest_first() -> None:
    now = [T0]
    log = CrashLog(clock=lambda: now[0])
    log.record(_exit(T0 - CRASH_WINDOW - timedelta(seconds=1)))  # too old
    log.record(_exit(T0 - timedelta(seconds=30), release=1))  # another release
    log.record(_exit(T0 - timedelta(seconds=20), crashed=False))  # stopped, not crashed
    log.record(_exit(T0 - timedelta(seconds=10), code=1))
    log.record(_exit(T0 - timedelta(seconds=5), code=3))
    assert [e.exit_code for e in log.recent("web", 2)] == [3, 1]
    assert log.recent("other", 2) == []
    now[0] = T0 + CRASH_WINDOW
    assert log.recent("web", 2) == []
    log.record(_exit(T0 + CRASH_WINDOW))
    log.forget("web")
    assert log.recent("web", 2) == []


def test_a_crash_loop_is_crashed_even_while_a_container_is_up() -> None:
    app = App(name="web", created_at=T0, web_scale=1, current_release=2)
    up = ContainerInfo(
        id="x", name="c", app="web", release=2, process="web", address="10.0.0.2", state="running"
    )
    restarting = ContainerInfo(**{**up.__dict__, "state": "restarting"})
    assert app_status(app, [up]) == "running"
    assert app_status(app, [up], crashes=1) == "running"  # one crash and back: not a loop
    assert app_status(app, [restarting], crashes=1) == "crashed"
    assert app_status(app, [up], crashes=2) == "crashed"
    assert (
        app_status(App(name="web", created_at=T0, web_scale=0, current_release=2), [], crashes=5) == "stopped"
    )
