"""The Protocols the accounts services need: stored users, tokens and audit events; a hasher."""

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from controller.domain.account_records import ApiToken, AuditEvent, AuditQuery, Session, User


class AccountStore(Protocol):
    def add_user(self, user: User) -> None:
        """Raises Conflict when the name exists."""

    def get_user(self, name: str) -> User:
        """Raises NotFound."""

    def list_users(self) -> list[User]: ...

    def put_user(self, user: User, *, keep_an_admin: bool = True) -> None:
        """Raises NotFound, or Conflict when no admin would be left."""

    def remove_user(self, name: str) -> None:
        """Removes its tokens too; raises NotFound, or Conflict for the last admin."""

    def add_token(self, token: ApiToken) -> None:
        """Raises Conflict when the name exists, NotFound for an unknown user."""

    def list_tokens(self) -> list[ApiToken]: ...

    def find_token(self, secret_hash: str) -> tuple[ApiToken, User | None] | None: ...

    def revoke_token(self, name_or_id: str, at: datetime) -> ApiToken:
        """Raises NotFound."""

    def replace_token_secret(self, name: str, secret_hash: str) -> None: ...

    def touch_token(self, token_id: str, at: datetime) -> None: ...

    def add_session(self, session: Session) -> None: ...

    def find_session(self, id_hash: str) -> tuple[Session, User] | None: ...

    def delete_sessions(self, *, id_hash: str | None = None, user: str | None = None) -> None: ...

    def add_audit_events(self, events: Sequence[AuditEvent]) -> None: ...

    def query_audit(self, query: AuditQuery) -> list[AuditEvent]: ...

    def prune_audit(self, before: datetime) -> int: ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...
