"""The records of accounts: users, API tokens (only a hash of the secret) and audit events."""

from dataclasses import dataclass
from datetime import datetime

from controller.domain.access import Role


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    apps: frozenset[str] | None  # None: every app
    password_hash: str
    created_at: datetime


@dataclass(frozen=True)
class ApiToken:
    id: str
    name: str
    user: str | None  # None: a token of its own (the bootstrap admin token, service tokens)
    role: Role | None  # None: the user's role
    apps: frozenset[str] | None  # None: every app the user (or role) may use
    secret_hash: str
    created_at: datetime
    last_used_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class AuditEvent:
    at: datetime
    actor: str
    action: str
    app: str | None
    outcome: str
    source: str | None
    detail: str = ""
    seq: int | None = None


@dataclass(frozen=True)
class AuditQuery:
    app: str | None = None
    actor: str | None = None
    since: datetime | None = None
    apps: frozenset[str] | None = None  # a scoped reader sees only events of these apps
    limit: int = 200


@dataclass(frozen=True)
class Session:
    """A browser's login: only hashes of its id and CSRF token are stored."""

    id_hash: str
    user: str
    csrf_hash: str
    created_at: datetime
    expires_at: datetime
