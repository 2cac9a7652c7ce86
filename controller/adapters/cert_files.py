"""Certificates and their status as files under the data dir (the `CertificateStore` port).

Layout of ROOT (`$DOCKYARD_DATA_DIR/certs`, 0700), readable with `ls`:
    <app>/fullchain.pem   the certificate chain nginx serves (0600; nginx's master reads it as root)
    <app>/privkey.pem     its key (0600)
    <app>/status.json     per domain: valid until, last attempt, last error; the redirect choice
    <app>/issuance.log    what each issuance attempt did, newest last (bounded)

The certificate's own facts (names, serial, expiry) are read from fullchain.pem, so a crash
between writing the PEMs and status.json can never make the controller forget a certificate.
"""

import json
import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from controller.adapters.private_files import write_private_file
from controller.adapters.x509_info import certificate_info
from controller.domain.certificates import CertificateInfo, CertificateState, state_from_json, state_to_json
from controller.domain.names import validate_site_name

logger = logging.getLogger(__name__)

FULLCHAIN = "fullchain.pem"
PRIVKEY = "privkey.pem"
STATUS = "status.json"
LOG = "issuance.log"
LOG_MAX_LINES = 500
PRIVATE_DIR_MODE = 0o700


class FileCertificateStore:
    """Reads and writes `ROOT/<app>/`; keeps each app's state in memory once read."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._lock = threading.Lock()
        self._states: dict[str, CertificateState] = {}

    def prepare(self) -> None:
        self._root.mkdir(parents=True, exist_ok=True)
        self._root.chmod(PRIVATE_DIR_MODE)

    def _dir(self, app: str) -> Path:
        return self._root / validate_site_name(app)

    def paths(self, app: str) -> tuple[str, str]:
        """Absolute paths of the app's chain and key, as nginx is told them."""
        directory = self._dir(app)
        return str(directory / FULLCHAIN), str(directory / PRIVKEY)

    def load(self, app: str) -> CertificateState:
        """The app's state (an empty one when it never had a certificate)."""
        with self._lock:
            state = self._states.get(app)
            if state is None:
                state = self._states[app] = self._read(app)
            return state

    def _read(self, app: str) -> CertificateState:
        directory = self._dir(app)
        try:
            document = json.loads((directory / STATUS).read_text())
        except FileNotFoundError:
            document = {}
        except (OSError, ValueError) as error:
            logger.error("cannot read %s: %s", directory / STATUS, error)
            document = {}
        return state_from_json(
            app, document if isinstance(document, dict) else {}, self._read_certificate(app)
        )

    def _read_certificate(self, app: str) -> CertificateInfo | None:
        directory = self._dir(app)
        if not (directory / PRIVKEY).is_file():
            return None
        try:
            return certificate_info((directory / FULLCHAIN).read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            logger.error("cannot read the certificate %s: %s", directory / FULLCHAIN, error)
            return None

    def save(self, state: CertificateState) -> None:
        """Write status.json atomically; the state's certificate must be the installed one."""
        directory = self._dir(state.app)
        with self._lock:
            directory.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
            text = json.dumps(state_to_json(state), indent=2) + "\n"
            write_private_file(directory / STATUS, text.encode())
            self._states[state.app] = state

    def install(self, app: str, fullchain_pem: bytes, key_pem: bytes) -> Callable[[], None]:
        """Replace the app's chain and key (each atomically, 0600); return an undo.

        The caller holds the routing lock, so no proxy reload sees a chain with the
        other certificate's key.
        """
        directory = self._dir(app)
        with self._lock:
            directory.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
            previous = {
                name: (directory / name).read_bytes() if (directory / name).is_file() else None
                for name in (FULLCHAIN, PRIVKEY)
            }

            def restore() -> None:
                for name, data in previous.items():
                    if data is None:
                        (directory / name).unlink(missing_ok=True)
                    else:
                        write_private_file(directory / name, data)
                self._refresh_certificate(app)

            try:
                write_private_file(directory / PRIVKEY, key_pem)
                write_private_file(directory / FULLCHAIN, fullchain_pem)
            except OSError:
                restore()  # never leave a key next to the other certificate's chain
                raise
            self._refresh_certificate(app)

        def undo() -> None:
            with self._lock:
                restore()

        return undo

    def _refresh_certificate(self, app: str) -> None:
        state = self._states.get(app)
        if state is not None:
            self._states[app] = replace(state, certificate=self._read_certificate(app))

    def remove(self, app: str) -> None:
        """Forget the app's certificate, key, status and log."""
        with self._lock:
            self._states.pop(app, None)
            shutil.rmtree(self._dir(app), ignore_errors=True)

    def append_log(self, app: str, line: str) -> None:
        path = self._dir(app) / LOG
        with self._lock:
            path.parent.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
            lines = path.read_text().splitlines() if path.exists() else []
            lines.append(line.replace("\n", " "))
            write_private_file(path, ("\n".join(lines[-LOG_MAX_LINES:]) + "\n").encode())

    def read_log(self, app: str, tail: int) -> list[str]:
        path = self._dir(app) / LOG
        try:
            return path.read_text().splitlines()[-tail:] if tail > 0 else []
        except FileNotFoundError:
            return []
