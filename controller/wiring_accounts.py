"""Wires the accounts services: the SQL store, argon2 password hashing, the app names they check."""

from controller.adapters.passwords import Argon2Passwords
from controller.services.account_ports import AccountStore, PasswordHasher
from controller.services.accounts import Accounts
from controller.services.audit import AuditLog
from controller.services.sessions import SessionService
from controller.services.tokens import TokenService
from controller.services.users import AppNames, UserService
from controller.settings import Settings


def build_accounts(
    settings: Settings,
    *,
    store: AccountStore,
    app_names: AppNames,
    admin_token: str,
    hasher: PasswordHasher | None = None,
) -> Accounts:
    passwords = hasher or Argon2Passwords()
    tokens = TokenService(store=store, app_names=app_names)
    sessions = SessionService(store=store, hasher=passwords, hours=settings.session_hours)
    users = UserService(
        store=store,
        hasher=passwords,
        app_names=app_names,
        on_change=tokens.forget_cached,
        end_sessions=sessions.end_all,
    )
    return Accounts(
        users=users,
        tokens=tokens,
        audit=AuditLog(store=store, retention_days=settings.audit_days),
        sessions=sessions,
        bootstrap_token=admin_token,
    )
