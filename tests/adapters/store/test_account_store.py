"""Users, tokens and audit events in the store, on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest

from controller.adapters.store import SqlStore
from controller.domain.access import Role
from controller.domain.account_records import ApiToken, AuditEvent, AuditQuery, User
from controller.domain.errors import Conflict, NotFound

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _user(name: str, role: Role = Role.ADMIN, apps: frozenset[str] | None = None) -> User:
    return User(name=name, role=role, apps=apps, password_hash="$argon2id$fake", created_at=NOW)


def _token(name: str, user: str | None, digest: str) -> ApiToken:
    return ApiToken(
        id=f"id-{name}",
        name=name,
        user=user,
        role=None,
        apps=None,
        secret_hash=digest,
        created_at=NOW,
    )


def test_users_round_trip_and_names_are_unique(store: SqlStore) -> None:
    store.add_user(_user("alice"))
    store.add_user(_user("bob", Role.DEVELOPER, frozenset({"web"})))
    with pytest.raises(Conflict):
        store.add_user(_user("bob"))
    assert [u.name for u in store.list_users()] == ["alice", "bob"]
    assert store.get_user("bob").apps == frozenset({"web"})
    assert store.get_user("bob").role is Role.DEVELOPER
    with pytest.raises(NotFound):
        store.get_user("carol")


def test_the_last_admin_cannot_be_removed_or_demoted(store: SqlStore) -> None:
    store.add_user(_user("alice"))
    store.add_user(_user("bob", Role.VIEWER))
    with pytest.raises(Conflict, match="last admin"):
        store.remove_user("alice")
    with pytest.raises(Conflict, match="last admin"):
        store.put_user(_user("alice", Role.VIEWER))
    assert store.get_user("alice").role is Role.ADMIN
    store.put_user(_user("bob", Role.ADMIN))
    store.remove_user("alice")
    assert [u.name for u in store.list_users()] == ["bob"]


def test_a_token_is_found_by_its_hash_with_its_user(store: SqlStore) -> None:
    store.add_user(_user("dev", Role.DEVELOPER, frozenset({"web"})))
    store.add_token(_token("ci", "dev", "a" * 64))
    store.add_token(_token("bootstrap", None, "b" * 64))
    with pytest.raises(Conflict):
        store.add_token(_token("ci", None, "c" * 64))
    with pytest.raises(NotFound):
        store.add_token(_token("x", "nobody", "d" * 64))
    found = store.find_token("a" * 64)
    assert found is not None
    token, user = found
    assert (
        token.name == "ci"
        and user is not None
        and user.role is Role.DEVELOPER
        and user.apps == frozenset({"web"})
    )
    assert store.find_token("b" * 64) == (store.list_tokens()[0], None)
    assert store.find_token("e" * 64) is None


def test_revoke_touch_and_removing_a_user_removes_its_tokens(store: SqlStore) -> None:
    store.add_user(_user("admin"))
    store.add_user(_user("dev", Role.DEVELOPER))
    store.add_token(_token("ci", "dev", "a" * 64))
    store.touch_token("id-ci", NOW + timedelta(minutes=1))
    revoked = store.revoke_token("ci", NOW + timedelta(minutes=2))
    assert revoked.revoked_at == NOW + timedelta(minutes=2)
    assert store.revoke_token("id-ci", NOW + timedelta(hours=1)).revoked_at == NOW + timedelta(minutes=2)
    (listed,) = store.list_tokens()
    assert listed.last_used_at == NOW + timedelta(minutes=1)
    with pytest.raises(NotFound):
        store.revoke_token("nope", NOW)
    store.remove_user("dev")
    assert store.list_tokens() == []


def test_audit_events_are_filtered_newest_first_and_pruned(store: SqlStore) -> None:
    events = [
        AuditEvent(
            at=NOW - timedelta(days=400), actor="old", action="deploy", app="web", outcome="ok", source=None
        ),
        AuditEvent(at=NOW, actor="alice", action="deploy", app="web", outcome="ok", source="10.0.0.1"),
        AuditEvent(at=NOW, actor="bob", action="create_app", app="api", outcome="denied", source="10.0.0.2"),
    ]
    store.add_audit_events(events)
    assert [e.actor for e in store.query_audit(AuditQuery())] == ["bob", "alice", "old"]
    assert [e.actor for e in store.query_audit(AuditQuery(app="web", since=NOW - timedelta(days=1)))] == [
        "alice"
    ]
    assert [e.actor for e in store.query_audit(AuditQuery(actor="bob"))] == ["bob"]
    assert [e.actor for e in store.query_audit(AuditQuery(apps=frozenset({"api"})))] == ["bob"]
    assert store.prune_audit(NOW - timedelta(days=365)) == 1
    assert len(store.query_audit(AuditQuery())) == 2
