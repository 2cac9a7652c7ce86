"""`dockyard service status|start|stop|restart`: run the controller as a service on this server.

With systemd as the init system (and a dockyard.service unit, which install.sh writes there)
these call `systemctl`. Without systemd, the controller runs in the background with a pid
file, the way install.sh starts it: `sh` loads the env file (`set -a; . FILE`) into a clean
environment and execs `dockyard serve`; its output is appended to the log file. After a
reboot, install.sh's `@reboot` entry in /etc/cron.d/dockyard runs `dockyard service start`.

Exit status: 0 done (or already in that state); 1 failed; `status` 3 when not running.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import click
import httpx

from controller.cli.output import fail
from controller.settings import DEFAULT_DATA_DIR
from controller.wiring_keeper import stop_keeper

UNIT = "dockyard.service"
NOT_RUNNING = 3  # LSB status code: "program is not running"
WILDCARDS = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104 - names, not a bind
LOG_TAIL_LINES = 30
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# sh loads the env file with shell syntax (as install.sh always did), then becomes `dockyard serve`.
LOAD_ENV_AND_SERVE = 'set -a; . "$1"; set +a; exec "$2" serve'


@dataclass(frozen=True)
class PidFileService:
    """The controller as a background process with a pid file (no systemd)."""

    pid_file: Path
    env_file: Path
    log_file: Path
    executable: Path

    def running_pid(self) -> int | None:
        """The pid file's pid when that process is a live `dockyard serve`, else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if is_controller(pid) else None

    def health_url(self) -> str:
        listen = env_file_value(self.env_file, "DOCKYARD_LISTEN") or "127.0.0.1:8000"
        host, _, port = listen.rpartition(":")
        if host in WILDCARDS:
            host = "[::1]" if ":" in host else "127.0.0.1"
        return f"http://{host}:{port}/api/v1/health"

    def healthy(self) -> bool:
        try:
            return httpx.get(self.health_url(), timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self) -> int:
        """Start `dockyard serve` detached from this process; return its pid."""
        if not self.env_file.is_file():
            fail(f"no settings file {self.env_file} (install.sh writes it; or pass --env-file)")
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        # Both files are opened before the process exists: a failure leaves nothing running.
        temporary = self.pid_file.with_name(f".{self.pid_file.name}.tmp")
        with temporary.open("w") as pid_out, self.log_file.open("ab") as log:
            # A clean environment like systemd's (and the same PATH, so cron's short one does
            # not hide nginx in /usr/sbin): the settings come from the env file only.
            env = {"PATH": SYSTEMD_PATH, "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/root")}
            process = subprocess.Popen(
                ["/bin/sh", "-c", LOAD_ENV_AND_SERVE, "sh", self.env_file, self.executable],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
            pid_out.write(f"{process.pid}\n")
        temporary.replace(self.pid_file)
        return process.pid

    def stop(self, pid: int, timeout: float) -> bool:
        """SIGTERM, then SIGKILL after `timeout` seconds; True when it had to be killed."""
        os.kill(pid, signal.SIGTERM)
        killed = not wait_for(lambda: not is_alive(pid), timeout)
        if killed:
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: not is_alive(pid), 10)
        self.pid_file.unlink(missing_ok=True)
        return killed

    def stop_keeper(self, timeout: float) -> int | None:
        """Stop the keeper of the env file's data dir (`dockyard serve` starts it); its pid or None."""
        data_dir = env_file_value(self.env_file, "DOCKYARD_DATA_DIR")
        return stop_keeper(Path(data_dir) if data_dir else DEFAULT_DATA_DIR, timeout)

    def log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return f"(no log at {self.log_file})"
        return "\n".join(lines[-LOG_TAIL_LINES:])


def is_alive(pid: int) -> bool:
    """A process that has not exited (a zombie counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def is_controller(pid: int) -> bool:
    """A live process whose command line is `... dockyard serve` (not a recycled pid)."""
    if not is_alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    words = [Path(arg.decode(errors="replace")).name for arg in argv if arg]
    return "serve" in words and "dockyard" in words


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def env_file_value(path: Path, name: str) -> str | None:
    """NAME's value in a KEY=VALUE env file (last one wins; quotes stripped), else None."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    value = None
    for line in lines:
        key, sep, rest = line.strip().partition("=")
        if sep and key.removeprefix("export ").strip() == name:
            value = rest.strip().strip("\"'")
    return value


def systemd_runs() -> bool:
    """systemd is the init system (what sd_booted() checks)."""
    return Path("/run/systemd/system").is_dir()


def _systemctl(*args: str) -> NoReturn:
    try:
        result = subprocess.run(["systemctl", *args], check=False)
    except FileNotFoundError:
        fail("systemctl not found: use --manager pidfile")
    sys.exit(result.returncode)


def _wait_healthy(service: PidFileService, pid: int, wait: float) -> None:
    """Return once the API answers; fail with the log's tail if it exits or stays silent."""
    if wait <= 0:
        return
    if wait_for(lambda: service.healthy() or not is_alive(pid), wait) and is_alive(pid):
        return
    if not is_alive(pid):
        service.pid_file.unlink(missing_ok=True)
        fail(f"the controller (pid {pid}) exited; the end of {service.log_file}:\n{service.log_tail()}")
    fail(
        f"the controller (pid {pid}) runs but {service.health_url()} did not answer within {wait:g} s; "
        f"see {service.log_file}"
    )


class _ServiceGroup(click.Group):
    """Turns a file or signal error (not root, a read-only path) into a one-line message."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            fail(f"service {ctx.invoked_subcommand}: {exc.strerror or exc}{where}; run it as root?")


@click.group(cls=_ServiceGroup)
def service() -> None:
    """Start, stop, restart the controller on this server, or show whether it runs."""


# The pid-file mode's paths: (option, default, environment variable, help).
PATH_OPTIONS = (
    ("--pid-file", "/run/dockyard.pid", "DOCKYARD_PID_FILE", "Pid file of the background controller"),
    ("--env-file", "/etc/dockyard/dockyard.env", "DOCKYARD_ENV_FILE", "Settings the controller starts with"),
    ("--log-file", "/var/log/dockyard.log", "DOCKYARD_LOG_FILE", "Where its output is appended"),
)


def _manager_options(command: Callable[..., None]) -> Callable[..., None]:
    """--manager, and the paths of the pid-file mode (what install.sh uses without systemd)."""
    for name, default, envvar, text in reversed(PATH_OPTIONS):
        command = click.option(
            name,
            type=click.Path(dir_okay=False, path_type=Path),
            default=default,
            show_default=True,
            envvar=envvar,
            help=f"{text} (no systemd).",
        )(command)
    return click.option(
        "--manager",
        type=click.Choice(["auto", "systemd", "pidfile"]),
        default="auto",
        show_default=True,
        envvar="DOCKYARD_SERVICE_MANAGER",
        help="systemd (systemctl ... dockyard.service) or pidfile; auto: systemd if it is the init.",
    )(command)


def _pidfile_service(pid_file: Path, env_file: Path, log_file: Path) -> PidFileService:
    return PidFileService(
        pid_file=pid_file,
        env_file=env_file,
        log_file=log_file,
        executable=Path(sys.executable).parent / "dockyard",
    )


def _use_systemd(manager: str) -> bool:
    return manager == "systemd" or (manager == "auto" and systemd_runs())


WAIT_OPTION = click.option(
    "--wait",
    type=float,
    default=90,
    show_default=True,
    help="Seconds to wait for the API to answer after starting (0: do not wait).",
)


@service.command("status")
@_manager_options
def service_status(manager: str, pid_file: Path, env_file: Path, log_file: Path) -> None:
    """Show whether the controller runs (exit 3 if not) and its API answers."""
    if _use_systemd(manager):
        _systemctl("status", "--no-pager", UNIT)
    svc = _pidfile_service(pid_file, env_file, log_file)
    pid = svc.running_pid()
    if pid is None:
        stale = " (stale pid file)" if pid_file.exists() else ""
        click.echo(f"not running{stale}: start it with `dockyard service start`")
        sys.exit(NOT_RUNNING)
    answer = "answers" if svc.healthy() else "does not answer"
    click.echo(f"running (pid {pid}); API {svc.health_url()} {answer}; log {log_file}")


@service.command("start")
@_manager_options
@WAIT_OPTION
def service_start(manager: str, pid_file: Path, env_file: Path, log_file: Path, wait: float) -> None:
    """Start the controller unless it runs, and wait until its API answers."""
    if _use_systemd(manager):
        _systemctl("start", UNIT)
    svc = _pidfile_service(pid_file, env_file, log_file)
    pid = svc.running_pid()
    if pid is not None:
        click.echo(f"already running (pid {pid})")
        return
    pid = svc.start()
    _wait_healthy(svc, pid, wait)
    click.echo(f"started (pid {pid}, log {log_file})")


@service.command("stop")
@_manager_options
@click.option("--timeout", type=float, default=30, show_default=True, help="Seconds before SIGKILL.")
def service_stop(manager: str, pid_file: Path, env_file: Path, log_file: Path, timeout: float) -> None:
    """Stop the controller and its keeper (apps and the proxy keep serving)."""
    if _use_systemd(manager):
        _systemctl("stop", UNIT)
    svc = _pidfile_service(pid_file, env_file, log_file)
    pid = svc.running_pid()
    keeper = svc.stop_keeper(timeout)
    stopped_keeper = f"; keeper (pid {keeper}) stopped" if keeper is not None else ""
    if pid is None:
        click.echo(f"not running{stopped_keeper}")
        return
    killed = svc.stop(pid, timeout)
    click.echo(f"stopped (pid {pid}{', killed after SIGTERM timed out' if killed else ''}){stopped_keeper}")


@service.command("restart")
@_manager_options
@WAIT_OPTION
@click.option("--timeout", type=float, default=30, show_default=True, help="Seconds before SIGKILL.")
def service_restart(
    manager: str, pid_file: Path, env_file: Path, log_file: Path, wait: float, timeout: float
) -> None:
    """Restart the controller and wait until its API answers."""
    if _use_systemd(manager):
        _systemctl("restart", UNIT)
    svc = _pidfile_service(pid_file, env_file, log_file)
    old = svc.running_pid()
    if old is not None:
        svc.stop(old, timeout)
    svc.stop_keeper(timeout)  # the new `dockyard serve` starts it again, from the code installed now
    pid = svc.start()
    _wait_healthy(svc, pid, wait)
    click.echo(f"restarted (pid {pid}{f', was {old}' if old else ''}, log {log_file})")
