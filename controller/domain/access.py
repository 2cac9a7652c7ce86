"""Who may do what: roles, actions, app scopes, principals and the authorization decision.

Pure. A principal is a user or a token acting with one role, limited to a set of apps or
to all of them. A token that belongs to a user can only narrow that user: its role is the
lower of the two and its apps the intersection.
"""

import hashlib
import re
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from controller.domain.errors import InvalidInput

USER_NAME_MAX = 64
PASSWORD_MIN = 8
PASSWORD_MAX = 1024
TOKEN_PREFIX = "dy_"  # noqa: S105 - a prefix, not a secret
TOKEN_BYTES = 32
BOOTSTRAP_TOKEN_NAME = "bootstrap-admin"  # noqa: S105 - a name
_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
_DURATION_RE = re.compile(r"^([1-9][0-9]{0,5})([mhdw])$")
_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class Role(Enum):
    """What a principal may do, each including the ones below it."""

    VIEWER = "viewer"
    DEVELOPER = "developer"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Role.VIEWER: 0, Role.DEVELOPER: 1, Role.ADMIN: 2}


class Action(Enum):
    """The kinds of request a route declares; each needs a minimum role."""

    READ = "read"  # see apps, deploys, releases, logs, domains, certificates
    OPERATE = "operate"  # deploy, config, scale, restart, rollback, domains, certs
    ADMINISTER = "administer"  # create and destroy apps, users, tokens, keys, the system

    @property
    def minimum_role(self) -> Role:
        return _MINIMUM_ROLE[self]


_MINIMUM_ROLE = {Action.READ: Role.VIEWER, Action.OPERATE: Role.DEVELOPER, Action.ADMINISTER: Role.ADMIN}


class PrincipalKind(Enum):
    USER = "user"
    TOKEN = "token"  # noqa: S105 - a kind
    SYSTEM = "system"  # the git hooks and other parts of the controller itself


@dataclass(frozen=True)
class Principal:
    """Someone acting on the API: `apps` None means every app."""

    name: str
    kind: PrincipalKind
    role: Role
    apps: frozenset[str] | None = None
    user: str | None = None

    def may_use(self, app: str) -> bool:
        return self.apps is None or app in self.apps

    def visible(self, apps: Iterable[str]) -> list[str]:
        """The names among `apps` this principal may see, in their order."""
        return [app for app in apps if self.may_use(app)]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


def authorize(principal: Principal, action: Action, app: str | None = None) -> Decision:
    """May `principal` do `action` (on `app`, when the request names one)?"""
    if principal.role.rank < action.minimum_role.rank:
        needed = action.minimum_role.value
        return Decision(False, f"{principal.name!r} is a {principal.role.value}; this needs {needed}")
    if app is not None and not principal.may_use(app):
        return Decision(False, f"{principal.name!r} may not use app {app!r}")
    return Decision(True)


AppScope = frozenset[str] | None


def narrow(
    user_role: Role, user_apps: AppScope, token_role: Role | None, token_apps: AppScope
) -> tuple[Role, AppScope]:
    """The role and apps of a user's token: never more than the user has."""
    role = user_role if token_role is None or token_role.rank > user_role.rank else token_role
    if user_apps is None:
        return role, token_apps
    if token_apps is None:
        return role, user_apps
    return role, user_apps & token_apps


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput(f"unknown role {value!r}: use admin, developer or viewer") from None


def scope_of(role: Role, apps: Collection[str] | None) -> frozenset[str] | None:
    """The stored app scope: admins always see every app; an empty list means every app."""
    if role is Role.ADMIN or not apps:
        return None
    return frozenset(apps)


def validate_account_name(name: str, *, what: str = "user name") -> str:
    """Return `name` if it is a valid user or token name (lowercase, 1-64 chars), else raise."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InvalidInput(
            f"{what} {name!r} is invalid: 1-64 lowercase letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return name


def validate_password(password: str) -> str:
    """Return `password` if it is 8 to 1024 characters without control characters, else raise."""
    if not password:
        raise InvalidInput("the password is empty")
    if len(password) < PASSWORD_MIN:
        raise InvalidInput(f"the password is shorter than {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        raise InvalidInput(f"the password is longer than {PASSWORD_MAX} characters")
    if any(not c.isprintable() for c in password):
        raise InvalidInput("the password contains control characters")
    return password


def generate_password() -> str:
    return secrets.token_urlsafe(18)


def generate_token_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(secret: str) -> str:
    """The stored form of a token: its SHA-256. The secret has 256 bits, so no slow hash is needed."""
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def parse_duration(value: str) -> timedelta:
    """`30d`, `12h`, `90m` or `2w` as a timedelta."""
    match = _DURATION_RE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise InvalidInput(f"invalid duration {value!r}: a number and m, h, d or w (e.g. 30d)")
    return timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and now >= expires_at
