"""The keeper process: one per data dir, so the data plane does not wait for the controller.

`dockyard serve` starts it detached (unless it runs) and it outlives the controller: when
a serving container is stopped through Docker's API while the controller is down, the
keeper starts it again at once (see `controller.services.keeper`). It holds an exclusive
lock on `<data dir>/keeper.pid`, which names its pid; it exits when that file or the data
dir is gone, or on SIGTERM (`dockyard service stop`).
"""

import fcntl
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from controller.settings import Settings

if TYPE_CHECKING:
    from controller.domain.account_records import AuditEvent

logger = logging.getLogger(__name__)

KEEPER_FILE = "keeper.pid"
CHECK_SECONDS = 1.0  # how often the keeper checks that its data dir and pid file remain
REFRESH_SECONDS = 30.0  # how often it reads every serving set (its answer while the database is down)
LOCK_TRIES = 20
LOCK_RETRY_SECONDS = 0.1


def keeper_pid_file(data_dir: Path) -> Path:
    return data_dir / KEEPER_FILE


def running_keeper(data_dir: Path) -> int | None:
    """The pid of the keeper holding `data_dir`'s lock, None when none does."""
    try:
        fd = os.open(keeper_pid_file(data_dir), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
            return int(text) if text.isdigit() else None
        return None
    finally:
        os.close(fd)


def start_keeper(settings: Settings) -> int | None:
    """Start `dockyard keeper` detached with this environment, unless one runs; its pid or None."""
    if running_keeper(settings.data_dir) is not None:
        return None
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    with (settings.logs_dir / "keeper.log").open("ab") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "dockyard"), "keeper"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not in the controller's process group: it outlives it
            close_fds=True,
        )
    return process.pid


def stop_keeper(data_dir: Path, timeout: float = 10) -> int | None:
    """SIGTERM the running keeper (SIGKILL after `timeout`); its pid, or None when none ran."""
    pid = running_keeper(data_dir)
    if pid is None:
        return None
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while running_keeper(data_dir) == pid:
        if time.monotonic() > deadline:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    return pid


def _take_lock(path: Path) -> int | None:
    """An fd holding the exclusive lock on `path` (its content: our pid), None if another holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    for _ in range(LOCK_TRIES):  # a `running_keeper` check may hold a shared lock for a moment
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            time.sleep(LOCK_RETRY_SECONDS)
            continue
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd
    os.close(fd)
    return None


def _still_ours(path: Path, fd: int) -> bool:
    """The pid file we locked is still in place (the data dir was not deleted or replaced)."""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except OSError:
        return False


def run_keeper(settings: Settings) -> int:
    """Run the keeper until its pid file or data dir is gone; the exit status."""
    from controller.adapters.docker.keeper import DockerKeeper
    from controller.services.keeper import Keeper

    path = keeper_pid_file(settings.data_dir)
    try:
        fd = _take_lock(path)
    except OSError as exc:
        logger.error("keeper: cannot lock %s: %s", path, exc)
        return 1
    if fd is None:
        logger.info("keeper: another keeper runs for %s", settings.data_dir)
        return 0
    serving = _LazyServingSets(settings)
    docker = DockerKeeper(instance=settings.instance)
    keeper = Keeper(starter=docker, serving=serving.of, audit=serving)
    stop = threading.Event()
    watcher = threading.Thread(
        target=docker.watch_stops, args=(keeper.on_stop, stop), name="dockyard-keeper-watch", daemon=True
    )
    watcher.start()
    logger.warning("keeper: watching instance %s (pid %d)", settings.instance, os.getpid())
    next_refresh = 0.0
    while _still_ours(path, fd):
        if time.monotonic() >= next_refresh:
            serving.refresh()
            next_refresh = time.monotonic() + REFRESH_SECONDS
        time.sleep(CHECK_SECONDS)
    logger.warning("keeper: %s is gone; exiting", path)
    stop.set()
    watcher.join(2)
    return 0


class _LazyServingSets:
    """The store's serving sets, opened once the controller has set the database up, and the
    audit log the keeper's restarts go to (as the reconciler's, written at once).

    The controller creates the secret key right after migrating the database: until then
    there is nothing to read (and the keeper must not create an empty database file).
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._sets: Callable[[str], Collection[str] | None] | None = None
        self._refresh: Callable[[], None] = lambda: None
        self._add_audit_events: Callable[[list[AuditEvent]], None] | None = None
        self._lock = threading.Lock()

    def _open(self) -> None:
        with self._lock:
            if self._sets is not None or not self._settings.secret_key_file.is_file():
                return
            from controller.adapters.secrets import Cipher
            from controller.adapters.store.sql_store import SqlStore
            from controller.services.keeper import ServingSets

            store = SqlStore(
                self._settings.resolved_database_url, Cipher.from_key_file(self._settings.secret_key_file)
            )
            sets = ServingSets(store)
            self._sets, self._refresh = sets.of, sets.refresh
            self._add_audit_events = store.add_audit_events

    def of(self, app: str) -> Collection[str] | None:
        self._open()
        return self._sets(app) if self._sets is not None else None

    def refresh(self) -> None:
        self._open()
        self._refresh()

    def record(
        self,
        *,
        actor: str,
        action: str,
        outcome: str,
        app: str | None = None,
        source: str | None = None,
        detail: str = "",
    ) -> None:
        from controller.services.audit import audit_event

        self._open()
        if self._add_audit_events is None:
            logger.info("keeper: no database yet to audit %s of %s in", action, app)
            return
        event = audit_event(
            actor=actor, action=action, outcome=outcome, app=app, source=source, detail=detail
        )
        try:
            self._add_audit_events([event])
        except Exception as exc:  # the database may be down: the restart itself is what matters
            logger.warning("keeper: could not audit %s of %s: %s", action, app, exc)


def configure_keeper_logging() -> None:
    logging.basicConfig(
        stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
