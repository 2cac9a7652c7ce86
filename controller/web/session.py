"""Browser sessions of the GUI: a signed cookie (HMAC-SHA256), its CSRF token, and the login check.

The cookie holds `who`, an expiry and a random nonce, signed with a key derived from the data
dir's secret key (a random key of this process when there is none: sessions then end with
it). The CSRF token is bound to the session: an HMAC of its nonce, so it needs no storage and
changes with every login. `check_credentials` is the one place that decides who may log in;
the accounts work (issue 9) swaps it for users and passwords.
"""

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from controller.domain.credentials import secrets_match
from controller.wiring import Services

SESSION_COOKIE = "dockyard_session"
LOGIN_COOKIE = "dockyard_login"  # double-submit CSRF token of the login form (no session yet)
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 12 * 3600
ADMIN = "admin"


@dataclass(frozen=True)
class Session:
    """A logged-in browser: who, until when, and the CSRF token its forms must carry."""

    who: str
    expires: int
    nonce: str
    csrf: str


def check_credentials(services: Services, token: str) -> str | None:
    """Who `token` logs in as, or None. Today only the admin API token logs in."""
    return ADMIN if token and secrets_match(token, services.admin_token) else None


class SessionSigner:
    """Makes and checks session cookies; one per app (the key never leaves the process)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def from_secret_file(cls, path: Path) -> "SessionSigner":
        """A key derived from the data dir's secret key, so sessions survive a restart."""
        try:
            secret = path.read_bytes().strip()
        except OSError:
            secret = b""
        if not secret:
            return cls(secrets.token_bytes(32))
        return cls(hmac.new(secret, b"dockyard web sessions v1", hashlib.sha256).digest())

    def _sign(self, payload: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self._key, payload, hashlib.sha256).digest()).decode()

    def csrf_of(self, nonce: str) -> str:
        return self._sign(b"csrf:" + nonce.encode())

    def issue(self, who: str, *, now: float | None = None) -> tuple[str, Session]:
        """A new session of `who`: the cookie value, and the session it stands for."""
        nonce = secrets.token_urlsafe(16)
        expires = int((now if now is not None else time.time()) + SESSION_SECONDS)
        payload = json.dumps({"who": who, "exp": expires, "n": nonce}, separators=(",", ":")).encode()
        cookie = base64.urlsafe_b64encode(payload).decode() + "." + self._sign(payload)
        return cookie, Session(who=who, expires=expires, nonce=nonce, csrf=self.csrf_of(nonce))

    def load(self, cookie: str | None, *, now: float | None = None) -> Session | None:
        """The session a cookie stands for; None when absent, forged, malformed or expired."""
        if not cookie or cookie.count(".") != 1:
            return None
        encoded, signature = cookie.split(".")
        try:
            payload = base64.urlsafe_b64decode(encoded.encode())
        except ValueError:
            return None
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(payload)
            who, expires, nonce = str(data["who"]), int(data["exp"]), str(data["n"])
        except (ValueError, KeyError, TypeError):
            return None
        if expires <= (now if now is not None else time.time()):
            return None
        return Session(who=who, expires=expires, nonce=nonce, csrf=self.csrf_of(nonce))


def csrf_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())
