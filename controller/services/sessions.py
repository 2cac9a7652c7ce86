"""Browser sessions: log in with a password, a session id in a cookie plus a CSRF token.

Only SHA-256 hashes of the session id and the CSRF token are stored. The CSRF token is derived
from the session id (`csrf_token_of`), so a server-rendered page (the GUI) can put it into its
forms from the cookie alone; a site that cannot read the cookie cannot compute it. A session ends when
it expires (`DOCKYARD_SESSION_HOURS`), at logout, and when the user's password changes.
Failed logins are slowed per user and per source address (`LoginThrottle`).
"""

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from controller.domain.access import Principal, PrincipalKind, is_expired, token_digest
from controller.domain.account_records import Session
from controller.domain.credentials import secrets_match
from controller.domain.errors import DockyardError, ErrorKind, NotFound, Unauthenticated
from controller.domain.login_throttle import LoginThrottle
from controller.services.account_ports import AccountStore, PasswordHasher


class TooManyLogins(DockyardError):
    """Too many failed logins for this user or address lately."""

    kind = ErrorKind.RATE_LIMITED

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed logins: try again in {int(retry_after) + 1} s")
        self.retry_after = int(retry_after) + 1


@dataclass(frozen=True)
class NewSession:
    session_id: str  # for the cookie; never stored
    csrf_token: str
    principal: Principal
    expires_at: datetime


def csrf_token_of(session_id: str) -> str:
    """The CSRF token of a session: a one-way function of its (256-bit, secret) id."""
    return token_digest("dockyard csrf v1:" + session_id)


class SessionService:
    def __init__(
        self,
        *,
        store: AccountStore,
        hasher: PasswordHasher,
        hours: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._lifetime = timedelta(hours=hours)
        self._clock = clock
        self._throttle = LoginThrottle()
        self._lock = threading.Lock()
        # Unknown users cost an argon2 verify too, so timing does not tell which names exist.
        self._decoy = hasher.hash(secrets.token_urlsafe(16))

    def login(self, name: str, password: str, *, source: str) -> NewSession:
        """Check the password and open a session.

        Raises:
            TooManyLogins: 5 failures within 10 minutes for this user or address.
            Unauthenticated: an unknown user or a wrong password (the same answer for both).
        """
        keys = [f"user:{name}", f"addr:{source}"]
        with self._lock:
            wait = self._throttle.retry_after(keys, self._clock())
        if wait > 0:
            raise TooManyLogins(wait)
        try:
            user = self._store.get_user(name)
        except NotFound:
            user = None
        ok = self._hasher.verify(user.password_hash if user else self._decoy, password) and user is not None
        if not ok or user is None:
            with self._lock:
                self._throttle.failed(keys, self._clock())
            raise Unauthenticated("wrong user name or password")
        with self._lock:
            self._throttle.succeeded(keys[0])
        session_id = secrets.token_urlsafe(32)
        csrf = csrf_token_of(session_id)
        now = datetime.now(UTC)
        session = Session(
            id_hash=token_digest(session_id),
            user=user.name,
            csrf_hash=token_digest(csrf),
            created_at=now,
            expires_at=now + self._lifetime,
        )
        self._store.add_session(session)
        principal = Principal(user.name, PrincipalKind.USER, user.role, user.apps, user=user.name)
        return NewSession(session_id, csrf, principal, session.expires_at)

    def authenticate(self, session_id: str, *, csrf: str | None, changes: bool) -> Principal:
        """The principal of a live session; a request that changes something needs its CSRF token.

        Raises:
            Unauthenticated: no such session, or it expired.
            CsrfRefused: a change without the session's CSRF token.
        """
        found = self._store.find_session(token_digest(session_id)) if session_id else None
        if found is None or is_expired(found[0].expires_at, datetime.now(UTC)):
            raise Unauthenticated("no session or it expired: log in again")
        session, user = found
        if changes and not (csrf and secrets_match(token_digest(csrf), session.csrf_hash)):
            raise CsrfRefused("this request needs the session's CSRF token in X-CSRF-Token")
        return Principal(user.name, PrincipalKind.USER, user.role, user.apps, user=user.name)

    def logout(self, session_id: str) -> None:
        self._store.delete_sessions(id_hash=token_digest(session_id))

    def end_all(self, user: str) -> None:
        self._store.delete_sessions(user=user)


class CsrfRefused(DockyardError):
    """A cookie-authenticated change without its session's CSRF token."""

    kind = ErrorKind.FORBIDDEN
