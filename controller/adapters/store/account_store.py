"""The accounts side of `SqlStore` (the `AccountStore` port): users, API tokens, audit events."""

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from controller.adapters.store.tables import api_tokens, audit_events, sessions, ssh_keys, users
from controller.domain.access import Role
from controller.domain.account_records import ApiToken, AuditEvent, AuditQuery, Session, User
from controller.domain.errors import Conflict, NotFound


class AccountStoreRows:
    """A mixin of `SqlStore`, which provides the connections."""

    def _reading(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _writing(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    # Users

    def add_user(self, user: User) -> None:
        try:
            with self._writing() as conn:
                if conn.execute(select(users.c.name).where(users.c.name == user.name)).first():
                    raise Conflict(f"user {user.name!r} exists")
                conn.execute(insert(users).values(**_user_values(user)))
        except IntegrityError as exc:
            raise Conflict(f"user {user.name!r} exists") from exc

    def get_user(self, name: str) -> User:
        with self._reading() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"no user {name!r}")
        return _user_of(row)

    def list_users(self) -> list[User]:
        with self._reading() as conn:
            rows = conn.execute(select(users).order_by(users.c.name)).mappings().all()
        return [_user_of(row) for row in rows]

    def put_user(self, user: User, *, keep_an_admin: bool = True) -> None:
        """Replace a user; refused (Conflict) when it would demote the last admin user."""
        with self._writing() as conn:
            _lock_users(conn)
            if conn.execute(select(users.c.name).where(users.c.name == user.name)).first() is None:
                raise NotFound(f"no user {user.name!r}")
            before = _admins(conn)
            conn.execute(update(users).where(users.c.name == user.name).values(**_user_values(user)))
            if keep_an_admin and before > 0 and _admins(conn) == 0:
                raise Conflict(f"{user.name!r} is the last admin: make another user admin first")

    def remove_user(self, name: str) -> None:
        """Delete a user, its tokens and its SSH keys; refused (Conflict) for the last admin."""
        with self._writing() as conn:
            _lock_users(conn)
            before = _admins(conn)
            if conn.execute(delete(users).where(users.c.name == name)).rowcount == 0:
                raise NotFound(f"no user {name!r}")
            conn.execute(delete(api_tokens).where(api_tokens.c.user == name))
            conn.execute(delete(sessions).where(sessions.c.user == name))
            conn.execute(delete(ssh_keys).where(ssh_keys.c.owner == name))
            if before > 0 and _admins(conn) == 0:
                raise Conflict(f"{name!r} is the last admin: make another user admin first")

    # Tokens

    def add_token(self, token: ApiToken) -> None:
        try:
            with self._writing() as conn:
                if conn.execute(select(api_tokens.c.id).where(api_tokens.c.name == token.name)).first():
                    raise Conflict(f"token {token.name!r} exists")
                owner = select(users.c.name).where(users.c.name == token.user)
                if token.user is not None and conn.execute(owner).first() is None:
                    raise NotFound(f"no user {token.user!r}")
                conn.execute(insert(api_tokens).values(**_token_values(token)))
        except IntegrityError as exc:
            raise Conflict(f"token {token.name!r} exists") from exc

    def list_tokens(self) -> list[ApiToken]:
        with self._reading() as conn:
            rows = conn.execute(select(api_tokens).order_by(api_tokens.c.created_at, api_tokens.c.name))
            return [_token_of(row) for row in rows.mappings().all()]

    def find_token(self, secret_hash: str) -> tuple[ApiToken, User | None] | None:
        """The token with this hash and its user (one indexed lookup), or None."""
        query = (
            select(api_tokens, users.c.role.label("user_role"), users.c.apps.label("user_apps"))
            .outerjoin(users, users.c.name == api_tokens.c.user)
            .where(api_tokens.c.secret_hash == secret_hash)
        )
        with self._reading() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        token = _token_of(row)
        user = None
        if token.user is not None:
            user_apps = row["user_apps"]
            user = User(
                name=token.user,
                role=Role(row["user_role"]),
                apps=frozenset(user_apps) if user_apps is not None else None,
                password_hash="",
                created_at=token.created_at,
            )
        return token, user

    def revoke_token(self, name_or_id: str, at: datetime) -> ApiToken:
        with self._writing() as conn:
            row = (
                conn.execute(
                    select(api_tokens).where(
                        (api_tokens.c.name == name_or_id) | (api_tokens.c.id == name_or_id)
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                raise NotFound(f"no token {name_or_id!r}")
            if row["revoked_at"] is None:
                conn.execute(update(api_tokens).where(api_tokens.c.id == row["id"]).values(revoked_at=at))
            return _token_of({**row, "revoked_at": row["revoked_at"] or at})

    def replace_token_secret(self, name: str, secret_hash: str) -> None:
        with self._writing() as conn:
            conn.execute(
                update(api_tokens)
                .where(api_tokens.c.name == name)
                .values(secret_hash=secret_hash, revoked_at=None)
            )

    def touch_token(self, token_id: str, at: datetime) -> None:
        with self._writing() as conn:
            conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=at))

    # Sessions

    def add_session(self, session: Session) -> None:
        with self._writing() as conn:
            conn.execute(insert(sessions).values(**asdict(session)))

    def find_session(self, id_hash: str) -> tuple[Session, User] | None:
        with self._reading() as conn:
            row = conn.execute(select(sessions).where(sessions.c.id_hash == id_hash)).mappings().first()
            user = (
                conn.execute(select(users).where(users.c.name == row["user"])).mappings().first()
                if row
                else None
            )
        if row is None or user is None:
            return None
        return Session(**row), _user_of(user)

    def delete_sessions(self, *, id_hash: str | None = None, user: str | None = None) -> None:
        with self._writing() as conn:
            if id_hash is not None:
                conn.execute(delete(sessions).where(sessions.c.id_hash == id_hash))
            if user is not None:
                conn.execute(delete(sessions).where(sessions.c.user == user))

    # Audit

    def add_audit_events(self, events: Sequence[AuditEvent]) -> None:
        if not events:
            return
        with self._writing() as conn:
            insert_audit_events(conn, events)

    def query_audit(self, query: AuditQuery) -> list[AuditEvent]:
        """Newest first."""
        statement = select(audit_events).order_by(audit_events.c.seq.desc()).limit(query.limit)
        if query.app is not None:
            statement = statement.where(audit_events.c.app == query.app)
        if query.actor is not None:
            statement = statement.where(audit_events.c.actor == query.actor)
        if query.since is not None:
            statement = statement.where(audit_events.c.at >= query.since)
        if query.apps is not None:
            statement = statement.where(audit_events.c.app.in_(sorted(query.apps)))
        with self._reading() as conn:
            rows = conn.execute(statement).mappings().all()
        return [AuditEvent(**dict(row)) for row in rows]

    def prune_audit(self, before: datetime) -> int:
        with self._writing() as conn:
            return int(conn.execute(delete(audit_events).where(audit_events.c.at < before)).rowcount)


def _lock_users(conn: Connection) -> None:
    """Serialise user changes so two concurrent demotions cannot both leave an admin behind."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(users.c.name).with_for_update())


def _admins(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).where(users.c.role == Role.ADMIN.value)).scalar_one())


def _apps_value(apps: frozenset[str] | None) -> list[str] | None:
    return sorted(apps) if apps is not None else None


def _user_values(user: User) -> dict[str, Any]:
    return {
        "name": user.name,
        "role": user.role.value,
        "apps": _apps_value(user.apps),
        "password_hash": user.password_hash,
        "created_at": user.created_at,
    }


def _user_of(row: RowMapping) -> User:
    return User(
        name=row["name"],
        role=Role(row["role"]),
        apps=frozenset(row["apps"]) if row["apps"] is not None else None,
        password_hash=row["password_hash"],
        created_at=row["created_at"],
    )


def _token_values(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "user": token.user,
        "role": token.role.value if token.role is not None else None,
        "apps": _apps_value(token.apps),
        "secret_hash": token.secret_hash,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
    }


def _token_of(row: Any) -> ApiToken:
    return ApiToken(
        id=row["id"],
        name=row["name"],
        user=row["user"],
        role=Role(row["role"]) if row["role"] is not None else None,
        apps=frozenset(row["apps"]) if row["apps"] is not None else None,
        secret_hash=row["secret_hash"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


def insert_audit_events(conn: Connection, events: Sequence[AuditEvent]) -> None:
    """Insert audit events (in the caller's transaction)."""
    if not events:
        return
    conn.execute(
        _INSERT_AUDIT_EVENTS,
        [
            {
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "app": e.app,
                "outcome": e.outcome,
                "source": e.source,
                "detail": e.detail,
            }
            for e in events
        ],
    )


_INSERT_AUDIT_EVENTS = insert(audit_events)
