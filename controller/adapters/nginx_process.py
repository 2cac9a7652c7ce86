"""The nginx processes as Linux sees them: launch, config test, master lookup, workers, signals.

Everything reads /proc directly, so it works for a master this Python process did not
start (a controller restarted after a crash adopts the nginx that kept serving).
"""

import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from controller.domain.errors import DockyardError, ErrorKind

NGINX_TIMEOUT = 60.0
START_TIMEOUT = 10.0
POLL_INTERVAL = 0.005
MASTER_TITLE = "nginx: master process"


class NginxStartFailed(DockyardError):
    """nginx could not be started (port taken, binary missing, config unreadable)."""

    kind = ErrorKind.UNAVAILABLE


def nginx_argv(nginx_bin: str, prefix: Path, *extra: str) -> list[str]:
    """The argv of an nginx call on the private instance in `prefix`."""
    return [nginx_bin, *extra, "-p", str(prefix), "-c", str(prefix / "nginx.conf")]


def check_config(nginx_bin: str, prefix: Path) -> tuple[bool, str]:
    """Run `nginx -t -q`; return (passed, nginx's own output, warnings included)."""
    try:
        result = subprocess.run(
            nginx_argv(nginx_bin, prefix, "-t", "-q"),
            capture_output=True,
            text=True,
            timeout=NGINX_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, f"could not run {nginx_bin} -t: {error}"
    return result.returncode == 0, (result.stderr + result.stdout).strip()


def launch(nginx_bin: str, prefix: Path) -> None:
    """Start a daemonised master; returns once nginx has bound its ports and forked.

    stderr goes to a file, never a pipe: the detached master must not hold a pipe of ours.

    Raises:
        NginxStartFailed: with nginx's own message.
    """
    with tempfile.TemporaryFile(mode="w+") as errors:
        try:
            result = subprocess.run(
                nginx_argv(nginx_bin, prefix),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                timeout=NGINX_TIMEOUT,
                start_new_session=True,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise NginxStartFailed(f"could not run {nginx_bin}: {error}") from error
        if result.returncode != 0:
            errors.seek(0)
            raise NginxStartFailed(f"nginx did not start: {errors.read().strip()}")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state, ppid, ...), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces or ")".
    return stat[stat.rindex(")") + 2 :].split()


def is_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (PID 1 here may never reap nginx)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def is_master_of(pid: int, prefix: Path) -> bool:
    """True if `pid` is a live nginx master running with this prefix's nginx.conf."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    # nginx overwrites its argv with its title: "nginx: master process nginx -p P -c P/nginx.conf".
    words = cmdline.replace(b"\0", b" ").decode(errors="replace").split()
    title_ok = " ".join(words[:3]) == MASTER_TITLE
    conf = str(prefix / "nginx.conf")
    conf_ok = any(words[i] == "-c" and words[i + 1] == conf for i in range(len(words) - 1))
    return title_ok and conf_ok and is_alive(pid)


def running_master(prefix: Path) -> int | None:
    """The pid of the live master the pid file names, or None (missing, stale or reused pid)."""
    try:
        pid = int((prefix / "nginx.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid > 0 and is_master_of(pid, prefix) else None


def worker_pids(master: int) -> set[int]:
    """Live children of `master`: its workers, old ones still draining included."""
    children_file = Path(f"/proc/{master}/task/{master}/children")
    try:
        candidates = {int(pid) for pid in children_file.read_text().split()}
    except OSError:
        # Kernels without CONFIG_PROC_CHILDREN: scan every process's parent.
        candidates = set()
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                fields = _stat_fields(int(entry.name))
                if fields is not None and fields[1] == str(master):
                    candidates.add(int(entry.name))
    return {pid for pid in candidates if is_alive(pid)}


def poll_until(condition: Callable[[], bool], timeout: float, interval: float = POLL_INTERVAL) -> bool:
    """Call `condition` every `interval` seconds until it is true (True) or `timeout` ends (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def accepts_connections(host: str, port: int) -> bool:
    """True if a TCP connection to host:port opens right now."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def send_signal(pid: int, signum: signal.Signals) -> bool:
    """Signal `pid`; False if it is already gone."""
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return False
    return True
