"""Users: add, list, change, remove; the last admin stays; passwords only as argon2 hashes."""

from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime

from controller.domain.access import (
    Role,
    generate_password,
    parse_role,
    scope_of,
    validate_account_name,
    validate_password,
)
from controller.domain.account_records import User
from controller.domain.errors import InvalidInput
from controller.services.account_ports import AccountStore, PasswordHasher

AppNames = Callable[[], Collection[str]]


def checked_scope(role: Role, apps: Sequence[str] | None, app_names: AppNames) -> frozenset[str] | None:
    """The app scope for `role`, every app named checked to exist.

    Raises:
        InvalidInput: an app that does not exist.
    """
    if not apps:
        return None
    known = set(app_names())
    unknown = sorted(set(apps) - known)
    if unknown:
        raise InvalidInput(f"no such app: {', '.join(unknown)}")
    return scope_of(role, apps)


class UserService:
    def __init__(
        self,
        *,
        store: AccountStore,
        hasher: PasswordHasher,
        app_names: AppNames,
        on_change: Callable[[], None] = lambda: None,
        end_sessions: Callable[[str], None] = lambda name: None,
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._app_names = app_names
        self._on_change = on_change  # credentials may have changed: forget cached ones
        self._end_sessions = end_sessions  # a new password logs the user out everywhere

    def add(
        self, name: str, *, role: str, apps: Sequence[str] | None = None, password: str | None = None
    ) -> tuple[User, str | None]:
        """Create a user; returns it and the generated password when none was given."""
        validate_account_name(name)
        parsed = parse_role(role)
        generated = generate_password() if password is None else None
        plain = validate_password(password) if password is not None else generated
        assert plain is not None
        user = User(
            name=name,
            role=parsed,
            apps=checked_scope(parsed, apps, self._app_names),
            password_hash=self._hasher.hash(plain),
            created_at=datetime.now(UTC),
        )
        self._store.add_user(user)
        return user, generated

    def all(self) -> list[User]:
        return self._store.list_users()

    def get(self, name: str) -> User:
        return self._store.get_user(name)

    def update(self, name: str, *, role: str, apps: Sequence[str] | None = None) -> User:
        """Change the role and app scope; the last admin cannot be demoted (Conflict)."""
        parsed = parse_role(role)
        current = self._store.get_user(name)
        changed = User(
            name=current.name,
            role=parsed,
            apps=checked_scope(parsed, apps, self._app_names),
            password_hash=current.password_hash,
            created_at=current.created_at,
        )
        self._store.put_user(changed)
        self._on_change()
        return changed

    def set_password(self, name: str, password: str | None = None) -> str | None:
        """Set a new password; returns the generated one when none was given."""
        current = self._store.get_user(name)
        generated = generate_password() if password is None else None
        plain = validate_password(password) if password is not None else generated
        assert plain is not None
        changed = User(
            name=current.name,
            role=current.role,
            apps=current.apps,
            password_hash=self._hasher.hash(plain),
            created_at=current.created_at,
        )
        self._store.put_user(changed, keep_an_admin=False)
        self._end_sessions(name)
        self._on_change()
        return generated

    def remove(self, name: str) -> None:
        """Remove a user and its tokens; the last admin cannot be removed (Conflict)."""
        self._store.remove_user(name)
        self._on_change()
