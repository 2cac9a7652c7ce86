"""The nginx reverse proxy (the `Proxy` port): a private instance that outlives the controller.

Layout of PREFIX, readable with `ls`:
    nginx.conf, sites.conf   the live config (sites.conf.bak: the one before the last change,
                             *.rejected: the last config `nginx -t` refused)
    nginx.pid, logs/error.log, temp/*   the master's pid, errors, and the workers' temp dirs
"""

import contextlib
import fcntl
import functools
import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from controller.adapters.nginx_process import (
    START_TIMEOUT,
    NginxStartFailed,
    accepts_connections,
    check_config,
    is_alive,
    launch,
    poll_until,
    running_master,
    send_signal,
    worker_pids,
)
from controller.adapters.nginx_render import (
    DEFAULT_TUNABLES,
    TEMPLATES_DIR,
    NginxTunables,
    check_prefix,
    format_listen,
    render_main,
    render_sites,
)
from controller.domain.errors import ProxyConfigRejected
from controller.domain.models import Site, SiteTls
from controller.domain.names import validate_app_name

__all__ = [
    "TEMPLATES_DIR",
    "NginxProxy",
    "NginxStartFailed",
    "NginxTunables",
    "render_main",
    "render_sites",
]

logger = logging.getLogger(__name__)
ACCESS_LOG_POLL = 0.5
ACCESS_LOG_LINE_GUESS = 4096  # bytes read back per wanted line (nginx's combined lines are shorter)

CONFIG_MODE = 0o600  # read by the master (root) only: app names, domains and addresses are in there
PRIVATE_DIR_MODE = 0o700
TRAVERSABLE_MODE = 0o711  # workers run as nobody and must reach temp/
STOP_GRACE = 5.0
ERROR_TAIL_BYTES = 2000
_LOOPBACK_FOR = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104 - mapping, not binding


REJECT_HANDSHAKE_SINCE = (1, 19, 4)  # `ssl_reject_handshake`; Ubuntu 22.04 ships 1.18


@functools.lru_cache(maxsize=4)
def rejects_unknown_tls_names(nginx_bin: str) -> bool:
    """Whether this nginx can refuse TLS handshakes for unknown names (assumed if unknown)."""
    try:
        output = subprocess.run(
            [nginx_bin, "-v"], capture_output=True, text=True, timeout=10, check=False
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return True
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", output)
    return match is None or tuple(int(part) for part in match.groups()) >= REJECT_HANDSHAKE_SINCE


def _usable(tls: SiteTls | None) -> SiteTls | None:
    """The certificate, unless its files are gone (nginx would refuse every config then)."""
    if tls is not None and not (os.path.isfile(tls.cert_path) and os.path.isfile(tls.key_path)):
        logger.error("certificate files %s / %s are missing: serving HTTP only", tls.cert_path, tls.key_path)
        return None
    return tls


class NginxProxy:
    """Runs `nginx -p PREFIX` as a detached daemon and swaps its sites without dropping requests."""

    def __init__(
        self,
        *,
        prefix: Path,
        listen_addr: str,
        http_port: int,
        templates_dir: Path = TEMPLATES_DIR,
        nginx_bin: str = "nginx",
        drain_timeout: float = 30.0,
        tunables: NginxTunables = DEFAULT_TUNABLES,
        https_port: int = 443,
        acme_webroot: Path | None = None,
        site_tls: Callable[[Site], SiteTls | None] | None = None,
    ) -> None:
        """`site_tls` gives a site its certificate when the caller's Site carries none."""
        self._prefix = check_prefix(Path(prefix).resolve())
        format_listen(listen_addr, http_port)  # fail at wiring time, not at the first deploy
        format_listen(listen_addr, https_port)
        self._https_port = https_port
        self._acme_webroot = check_prefix(acme_webroot) if acme_webroot else None
        self._site_tls = site_tls
        self._listen_addr = listen_addr
        self._http_port = http_port
        self._templates_dir = templates_dir
        self._nginx_bin = nginx_bin
        self._drain_timeout = drain_timeout
        self._tunables = tunables
        self._lock = threading.Lock()

    @property
    def prefix(self) -> Path:
        return self._prefix

    @property
    def access_log_dir(self) -> Path:
        """Where each app's access log is: `<app>.access.log`."""
        return self._prefix / "logs" / "apps"

    def access_log_path(self, app: str) -> Path:
        return self.access_log_dir / f"{validate_app_name(app)}.access.log"

    def access_log(self, app: str, *, tail: int, follow: bool) -> Iterator[str]:
        """The last `tail` lines of the app's access log, then (with `follow`) new ones as they come.

        nginx flushes its buffer every second, so followed lines arrive up to a second late.
        """
        path = self.access_log_path(app)
        try:
            log = path.open("rb")
        except FileNotFoundError:
            if not follow:
                return
            while not path.exists():
                time.sleep(ACCESS_LOG_POLL)
            log = path.open("rb")
        with log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(0, size - tail * ACCESS_LOG_LINE_GUESS))
            lines = log.read().splitlines()
            if size > tail * ACCESS_LOG_LINE_GUESS:
                lines = lines[1:]  # the first may be cut
            for raw in lines[-tail:] if tail else []:
                yield raw.decode("utf-8", errors="replace")
            pending = b""
            while follow:
                chunk = log.read()
                if not chunk:
                    time.sleep(ACCESS_LOG_POLL)
                    continue
                *complete, pending = (pending + chunk).split(b"\n")
                for raw in complete:
                    yield raw.decode("utf-8", errors="replace")

    @property
    def conf_path(self) -> Path:
        return self._prefix / "nginx.conf"

    @property
    def overrides_dir(self) -> Path:
        """Where `<app>/*.conf` files with an operator's own directives for an app go."""
        return self._prefix / "apps"

    @property
    def sites_path(self) -> Path:
        return self._prefix / "sites.conf"

    def master_pid(self) -> int | None:
        """The pid of the live master serving this prefix, or None."""
        return running_master(self._prefix)

    def ensure_running(self, sites: Sequence[Site] | None) -> None:
        """Write both configs, then adopt the master of this prefix (reload) or start one.

        `sites=None` keeps the sites.conf on disk (an empty one if there is none): for a
        controller that starts while Docker is down and cannot know what runs.
        """
        with self._locked():
            self._install_and_start(sites)

    def apply(self, sites: Sequence[Site]) -> None:
        """Swap in `sites` and return once no old worker serves; starts nginx if it is down.

        Raises:
            ProxyConfigRejected: unsafe values, or nginx refused the config (previous one restored).
        """
        with self._locked():
            master = running_master(self._prefix)
            if master is None:
                self._install_and_start(sites)
                return
            self._install({self.sites_path: self._render_sites(sites)})
            self._reload(master)

    def is_current(self, sites: Sequence[Site]) -> bool:
        """True when the master runs and sites.conf is exactly what `sites` renders to."""
        if running_master(self._prefix) is None:
            return False
        try:
            return self.sites_path.read_text() == self._render_sites(sites)
        except OSError:
            return False

    def stop(self) -> None:
        """Quit gracefully (SIGQUIT), then fast (SIGTERM) if workers outlive the drain timeout."""
        with self._locked():
            master = running_master(self._prefix)
            if master is None:
                return
            send_signal(master, signal.SIGQUIT)
            if poll_until(lambda: not is_alive(master), self._drain_timeout + STOP_GRACE, 0.02):
                return
            logger.warning("nginx %s did not quit gracefully; sending SIGTERM", master)
            send_signal(master, signal.SIGTERM)
            if not poll_until(lambda: not is_alive(master), STOP_GRACE, 0.02):
                logger.error("nginx master %s is still alive after SIGTERM", master)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise config changes across threads and across processes sharing the prefix."""
        with self._lock:
            self._prefix.mkdir(parents=True, exist_ok=True)
            with (self._prefix / ".lock").open("a") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                yield

    def _render_sites(self, sites: Sequence[Site]) -> str:
        if self._site_tls is not None:
            lookup = self._site_tls
            sites = [site if site.tls else replace(site, tls=_usable(lookup(site))) for site in sites]
        return render_sites(
            sites,
            listen_addr=self._listen_addr,
            http_port=self._http_port,
            tunables=self._tunables,
            templates_dir=self._templates_dir,
            overrides_dir=self.overrides_dir,
            https_port=self._https_port,
            acme_webroot=self._acme_webroot,
            reject_unknown_tls=rejects_unknown_tls_names(self._nginx_bin),
            access_log_dir=self.access_log_dir,
        )

    def _install_and_start(self, sites: Sequence[Site] | None) -> None:
        main = render_main(
            prefix=self._prefix,
            listen_addr=self._listen_addr,
            http_port=self._http_port,
            tunables=self._tunables,
            templates_dir=self._templates_dir,
            acme_webroot=self._acme_webroot,
        )
        files = {self.conf_path: main}
        if sites is not None or not self.sites_path.exists():
            files[self.sites_path] = self._render_sites(sites or ())
        self._prepare_dirs()
        self._install(files)
        master = running_master(self._prefix)
        if master is None:
            self._start()
        else:
            logger.info("adopting nginx master %s of %s", master, self._prefix)
            self._reload(master)

    def _prepare_dirs(self) -> None:
        for directory in (self._prefix, self._prefix / "temp"):
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(TRAVERSABLE_MODE)
        (self._prefix / "logs").mkdir(exist_ok=True)
        (self._prefix / "logs").chmod(PRIVATE_DIR_MODE)  # the master (root) opens the logs
        for config in self._prefix.glob("*.conf*"):  # written by an older version with 0644
            if config.is_file() and not config.is_symlink():
                config.chmod(CONFIG_MODE)
        self.access_log_dir.mkdir(exist_ok=True)
        blocked = [str(parent) for parent in self._prefix.parents if not parent.stat().st_mode & 0o001]
        if blocked:
            logger.warning(
                "nginx workers (user nobody) cannot traverse %s: request bodies and responses too "
                "big for memory buffers will fail; make these directories o+x",
                ", ".join(blocked),
            )

    def _install(self, files: dict[Path, str]) -> None:
        """Atomically replace `files`, then `nginx -t`; on refusal put every old file back."""
        backups: dict[Path, Path | None] = {}
        for path, text in files.items():
            staged = path.with_name(path.name + ".new")
            staged.unlink(missing_ok=True)
            with os.fdopen(os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, CONFIG_MODE), "w") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            staged.chmod(CONFIG_MODE)
            backup = path.with_name(path.name + ".bak")
            backup.unlink(missing_ok=True)
            if path.exists():
                os.link(path, backup)  # the old inode survives os.replace under its .bak name
                backups[path] = backup
            else:
                backups[path] = None
            os.replace(staged, path)
        passed, output = check_config(self._nginx_bin, self._prefix)
        if passed:
            if output:
                logger.warning("nginx -t: %s", output)
            return
        for path, previous in backups.items():
            rejected = path.with_name(path.name + ".rejected")
            rejected.unlink(missing_ok=True)
            os.link(path, rejected)
            if previous is None:
                path.unlink()
            else:
                os.replace(previous, path)
        raise ProxyConfigRejected(f"nginx refused the new config: {output}")

    def _start(self) -> None:
        (self._prefix / "nginx.pid").unlink(missing_ok=True)  # stale: its pid is not our master
        launch(self._nginx_bin, self._prefix)
        host = _LOOPBACK_FOR.get(self._listen_addr, self._listen_addr)

        def serving() -> bool:
            master = running_master(self._prefix)
            return (
                master is not None
                and bool(worker_pids(master))
                and accepts_connections(host, self._http_port)
            )

        if not poll_until(serving, START_TIMEOUT, 0.01):
            raise NginxStartFailed(f"nginx did not come up within {START_TIMEOUT}s: {self._error_tail()}")
        logger.info("started nginx master %s for %s", running_master(self._prefix), self._prefix)

    def _reload(self, master: int) -> None:
        """SIGHUP, then wait until every old worker is gone and a new one serves.

        `nginx -s reload` returns before the new workers take over: stopping old backends at
        that point gave 502s, so the caller may only retire them once this returns.
        """
        old = worker_pids(master)
        if not send_signal(master, signal.SIGHUP):
            self._start()
            return

        def switched() -> bool:
            current = worker_pids(master)
            return not current & old and bool(current - old)

        if not poll_until(switched, self._drain_timeout):
            logger.warning(
                "nginx reload: old workers %s still alive after %ss; continuing. %s",
                sorted(worker_pids(master) & old),
                self._drain_timeout,
                self._error_tail(),
            )

    def _error_tail(self) -> str:
        try:
            with (self._prefix / "logs" / "error.log").open("rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - ERROR_TAIL_BYTES))
                return log.read().decode(errors="replace").strip()
        except OSError:
            return ""
