"""Users, tokens and the audit log over a real SQLite store: the rules the API relies on."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from argon2 import PasswordHasher
from sqlalchemy import text

from controller.adapters.passwords import Argon2Passwords
from controller.adapters.secrets import Cipher
from controller.adapters.store import SqlStore, upgrade_database
from controller.adapters.store.migrate import alembic_config
from controller.domain.access import BOOTSTRAP_TOKEN_NAME, Role
from controller.domain.account_records import AuditEvent, AuditQuery
from controller.domain.errors import Conflict, InvalidInput, NotFound
from controller.services.accounts import Accounts
from controller.settings import Settings
from controller.wiring_accounts import build_accounts

BOOTSTRAP = "bootstrap-secret-" + "x" * 40
NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade_database(url)
    sql = SqlStore(url, Cipher.from_key_file(tmp_path / "secret.key"))
    sql.create_app("web")
    sql.create_app("api")
    yield sql
    sql.close()


@pytest.fixture
def accounts(store: SqlStore, tmp_path: Path) -> Iterator[Accounts]:
    built = build_accounts(
        Settings(data_dir=tmp_path, audit_days=30),
        store=store,
        app_names=lambda: [a.name for a in store.list_apps()],
        admin_token=BOOTSTRAP,
        hasher=Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)),
    )
    built.start()
    yield built
    built.stop()


def test_a_user_gets_a_generated_password_once_and_only_its_hash_is_stored(
    accounts: Accounts, store: SqlStore
) -> None:
    _, password = accounts.users.add("alice", role="admin")
    assert password is not None and len(password) >= 16
    assert password not in store.get_user("alice").password_hash
    assert Argon2Passwords().verify(store.get_user("alice").password_hash, password)
    _, given = accounts.users.add("bob", role="viewer", password="correct horse")
    assert given is None


def test_bad_input_changes_nothing(accounts: Accounts) -> None:
    with pytest.raises(InvalidInput, match="unknown role"):
        accounts.users.add("carol", role="root")
    with pytest.raises(InvalidInput, match="no such app"):
        accounts.users.add("carol", role="developer", apps=["nope"])
    with pytest.raises(InvalidInput, match="empty"):
        accounts.users.add("carol", role="viewer", password="")
    with pytest.raises(InvalidInput, match="longer"):
        accounts.users.add("carol", role="viewer", password="x" * 2000)
    assert accounts.users.all() == []
    accounts.users.add("carol", role="viewer")
    with pytest.raises(Conflict):
        accounts.users.add("carol", role="viewer")


def test_the_last_admin_cannot_be_removed_or_demoted(accounts: Accounts) -> None:
    accounts.users.add("alice", role="admin")
    with pytest.raises(Conflict, match="last admin"):
        accounts.users.update("alice", role="viewer")
    with pytest.raises(Conflict, match="last admin"):
        accounts.users.remove("alice")
    accounts.users.add("bob", role="admin")
    accounts.users.update("alice", role="developer", apps=["web"])
    assert accounts.users.get("alice").apps == frozenset({"web"})


def test_a_token_narrows_its_user_and_is_refused_once_revoked(accounts: Accounts) -> None:
    accounts.users.add("dev", role="developer", apps=["web", "api"])
    token, secret = accounts.tokens.create("ci", user="dev", role="admin", apps=["web"])
    assert secret not in repr(token)
    principal = accounts.tokens.authenticate(secret)
    assert principal.role is Role.DEVELOPER and principal.apps == frozenset({"web"})
    accounts.tokens.revoke("ci")
    with pytest.raises(NotFound):
        accounts.tokens.authenticate(secret)


def test_an_expired_token_is_refused_even_when_cached(accounts: Accounts, store: SqlStore) -> None:
    _, secret = accounts.tokens.create("short", role="viewer", expires="1m")
    assert accounts.tokens.authenticate(secret).role is Role.VIEWER
    (token,) = [t for t in store.list_tokens() if t.name == "short"]
    assert token.expires_at is not None
    later = token.expires_at + timedelta(seconds=1)
    store.revoke_token("short", later)  # the database agrees; the cache must not outlive expiry either
    accounts.tokens.forget_cached()
    with pytest.raises(NotFound):
        accounts.tokens.authenticate(secret)


def test_the_bootstrap_token_is_listed_and_can_be_revoked(accounts: Accounts) -> None:
    (listed,) = accounts.tokens.all()
    assert listed.name == BOOTSTRAP_TOKEN_NAME and listed.role is Role.ADMIN
    assert accounts.tokens.authenticate(BOOTSTRAP).role is Role.ADMIN
    accounts.tokens.revoke(BOOTSTRAP_TOKEN_NAME)
    with pytest.raises(NotFound):
        accounts.tokens.authenticate(BOOTSTRAP)
    accounts.tokens.ensure_bootstrap(BOOTSTRAP)  # a restart with the same secret: still revoked
    with pytest.raises(NotFound):
        accounts.tokens.authenticate(BOOTSTRAP)


def test_a_token_needs_a_user_or_a_role_and_a_known_user(accounts: Accounts) -> None:
    with pytest.raises(InvalidInput):
        accounts.tokens.create("loose")
    with pytest.raises(NotFound):
        accounts.tokens.create("orphan", user="ghost")


def test_last_used_is_recorded(accounts: Accounts, store: SqlStore) -> None:
    _, secret = accounts.tokens.create("ci", role="viewer")
    accounts.tokens.authenticate(secret)
    assert next(t for t in accounts.tokens.all() if t.name == "ci").last_used_at is not None
    accounts.tokens.flush_usage()
    assert next(t for t in store.list_tokens() if t.name == "ci").last_used_at is not None


def test_audit_records_filters_and_prunes_past_retention(accounts: Accounts, store: SqlStore) -> None:
    accounts.audit.record(actor="alice", action="deploy_archive", app="web", outcome="ok", source="10.0.0.1")
    accounts.audit.record(actor="bob", action="create_app", app="api", outcome="denied")
    assert [e.actor for e in accounts.audit.query(AuditQuery())] == ["bob", "alice"]
    assert [e.action for e in accounts.audit.query(AuditQuery(app="web"))] == ["deploy_archive"]
    old = datetime.now(UTC) - timedelta(days=31)
    store.add_audit_events([AuditEvent(at=old, actor="x", action="y", app=None, outcome="ok", source=None)])
    assert accounts.audit.prune() == 1
    assert len(accounts.audit.query(AuditQuery())) == 2


def test_an_install_of_today_upgrades_and_its_admin_token_still_works(tmp_path: Path) -> None:
    """A database of revision 0004 with an app and an SSH key: both stay, the token works."""
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    command.upgrade(alembic_config(url), "0004")
    old = SqlStore(url, Cipher.from_key_file(tmp_path / "secret.key"))
    old.create_app("web")
    with old._writing() as conn:  # the row as a 0004-era controller wrote it (no owner column)
        conn.execute(
            text(
                "INSERT INTO ssh_keys (name, key_type, key_data, fingerprint, created_at) "
                "VALUES ('laptop', 'ssh-ed25519', 'AAAA', 'SHA256:x', :at)"
            ),
            {"at": NOW.replace(tzinfo=None)},
        )
    old.close()

    upgrade_database(url)
    store = SqlStore(url, Cipher.from_key_file(tmp_path / "secret.key"))
    try:
        accounts = build_accounts(
            Settings(data_dir=tmp_path), store=store, app_names=lambda: ["web"], admin_token=BOOTSTRAP
        )
        accounts.start()
        assert accounts.tokens.authenticate(BOOTSTRAP).role is Role.ADMIN
        assert [a.name for a in store.list_apps()] == ["web"]
        assert [(k.name, k.owner) for k in store.list_ssh_keys()] == [("laptop", None)]
        accounts.stop()
    finally:
        store.close()
