"""API tokens: create (the secret shown once), list, revoke, and the check of every request.

Only a SHA-256 of each secret is stored. The check is a dict lookup for a token seen in the
last `CACHE_SECONDS` (an indexed query otherwise), never a slow hash: a revoke clears the
cache, and expiry is checked on every request. Last-used times are kept in memory and
written at most once a `USAGE_FLUSH_SECONDS` per token.
"""

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from controller.domain.access import (
    BOOTSTRAP_TOKEN_NAME,
    Principal,
    PrincipalKind,
    Role,
    generate_token_secret,
    is_expired,
    narrow,
    parse_duration,
    parse_role,
    token_digest,
    validate_account_name,
)
from controller.domain.account_records import ApiToken
from controller.domain.errors import InvalidInput, NotFound
from controller.services.account_ports import AccountStore
from controller.services.users import AppNames, checked_scope

CACHE_SECONDS = 30.0
USAGE_FLUSH_SECONDS = 60.0


@dataclass(frozen=True)
class _Cached:
    token: ApiToken
    principal: Principal
    loaded: float


class TokenService:
    def __init__(
        self, *, store: AccountStore, app_names: AppNames, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._app_names = app_names
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._used: dict[str, datetime] = {}  # token id -> last use not yet written
        self._written: dict[str, float] = {}  # token id -> when its last use was written
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._flush_loop, name="dockyard-token-usage", daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()
        self.flush_usage()

    def _flush_loop(self) -> None:
        while not self._stopping.wait(USAGE_FLUSH_SECONDS):
            self.flush_usage()

    def create(
        self,
        name: str,
        *,
        user: str | None = None,
        role: str | None = None,
        apps: Sequence[str] | None = None,
        expires: str | None = None,
    ) -> tuple[ApiToken, str]:
        """Create a token; returns it and its secret, which is shown this once only.

        A token of a user never has more than the user: its role and apps narrow the user's.
        A token without a user needs a role.
        """
        validate_account_name(name, what="token name")
        parsed = parse_role(role) if role is not None else None
        if user is None and parsed is None:
            raise InvalidInput("a token needs a user (--user) or a role (--role)")
        if user is not None:
            self._store.get_user(user)
        scope = checked_scope(Role.VIEWER, apps, self._app_names)  # a token keeps its apps, whatever its role
        now = datetime.now(UTC)
        secret = generate_token_secret()
        token = ApiToken(
            id=secrets.token_hex(8),
            name=name,
            user=user,
            role=parsed,
            apps=scope,
            secret_hash=token_digest(secret),
            created_at=now,
            expires_at=now + parse_duration(expires) if expires else None,
        )
        self._store.add_token(token)
        return token, secret

    def all(self) -> list[ApiToken]:
        """Every token with its latest use (never its secret, which is not stored)."""
        with self._lock:
            used = dict(self._used)
        return [replace(t, last_used_at=used.get(t.id, t.last_used_at)) for t in self._store.list_tokens()]

    def revoke(self, name_or_id: str) -> ApiToken:
        """Refuse the token from its next request on."""
        token = self._store.revoke_token(name_or_id, datetime.now(UTC))
        self.forget_cached()
        return token

    def forget_cached(self) -> None:
        with self._lock:
            self._cache.clear()

    def ensure_bootstrap(self, secret: str) -> None:
        """Keep the bootstrap admin token (admin.token / DOCKYARD_ADMIN_TOKEN) listed as a token.

        A revoked one stays revoked while the secret is the same; a new secret configured
        by the operator replaces it (and is valid).
        """
        digest = token_digest(secret)
        if self._store.find_token(digest) is not None:
            return
        if any(t.name == BOOTSTRAP_TOKEN_NAME for t in self._store.list_tokens()):
            self._store.replace_token_secret(BOOTSTRAP_TOKEN_NAME, digest)
        else:
            self._store.add_token(
                ApiToken(
                    id=secrets.token_hex(8),
                    name=BOOTSTRAP_TOKEN_NAME,
                    user=None,
                    role=Role.ADMIN,
                    apps=None,
                    secret_hash=digest,
                    created_at=datetime.now(UTC),
                )
            )
        self.forget_cached()

    def cached_principal(self, secret: str) -> Principal | None:
        """The principal of a token checked within `CACHE_SECONDS`, without touching the database.

        None means "not known here": call `authenticate`.
        """
        with self._lock:
            cached = self._cache.get(token_digest(secret))
        if cached is None or self._clock() - cached.loaded > CACHE_SECONDS:
            return None
        if is_expired(cached.token.expires_at, datetime.now(UTC)):
            return None
        self._note_use(cached.token.id)
        return cached.principal

    def authenticate(self, secret: str) -> Principal:
        """The principal of a valid token.

        Raises:
            NotFound: an unknown, revoked or expired token (the API answers 401).
        """
        cached = self.cached_principal(secret)
        if cached is not None:
            return cached
        digest = token_digest(secret)
        found = self._store.find_token(digest) if secret else None
        now = datetime.now(UTC)
        if found is None or found[0].revoked_at is not None or is_expired(found[0].expires_at, now):
            raise NotFound("unknown, revoked or expired token")
        token, user = found
        if user is not None:
            role, apps = narrow(user.role, user.apps, token.role, token.apps)
        else:
            role, apps = token.role or Role.VIEWER, token.apps
        principal = Principal(
            name=token.name,
            kind=PrincipalKind.TOKEN,
            role=role,
            apps=apps,
            user=token.user,
        )
        with self._lock:
            self._cache[digest] = _Cached(token, principal, self._clock())
        self._note_use(token.id)
        return principal

    def _note_use(self, token_id: str) -> None:
        with self._lock:
            self._used[token_id] = datetime.now(UTC)

    def flush_usage(self) -> None:
        """Write the last-used times not written for `USAGE_FLUSH_SECONDS`."""
        now = self._clock()
        with self._lock:
            due = {
                token_id: at
                for token_id, at in self._used.items()
                if now - self._written.get(token_id, -USAGE_FLUSH_SECONDS) >= USAGE_FLUSH_SECONDS
            }
            for token_id in due:
                self._written[token_id] = now
        for token_id, at in due.items():
            self._store.touch_token(token_id, at)
