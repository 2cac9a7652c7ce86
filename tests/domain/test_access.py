"""Roles, actions, app scopes and the authorization decision."""

from datetime import UTC, datetime, timedelta

import pytest

from controller.domain.access import (
    Action,
    Principal,
    PrincipalKind,
    Role,
    authorize,
    generate_token_secret,
    is_expired,
    narrow,
    parse_duration,
    parse_role,
    scope_of,
    token_digest,
    validate_account_name,
    validate_password,
)
from controller.domain.errors import InvalidInput


def _principal(role: Role, apps: set[str] | None = None) -> Principal:
    return Principal("someone", PrincipalKind.TOKEN, role, frozenset(apps) if apps is not None else None)


@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    [
        (Role.VIEWER, Action.READ, True),
        (Role.VIEWER, Action.OPERATE, False),
        (Role.VIEWER, Action.ADMINISTER, False),
        (Role.DEVELOPER, Action.READ, True),
        (Role.DEVELOPER, Action.OPERATE, True),
        (Role.DEVELOPER, Action.ADMINISTER, False),
        (Role.ADMIN, Action.ADMINISTER, True),
    ],
)
def test_each_role_may_do_its_actions_and_no_more(role: Role, action: Action, allowed: bool) -> None:
    assert authorize(_principal(role), action, "web").allowed is allowed


def test_a_scoped_developer_may_operate_only_its_apps() -> None:
    dev = _principal(Role.DEVELOPER, {"web"})
    assert authorize(dev, Action.OPERATE, "web").allowed
    refused = authorize(dev, Action.OPERATE, "api")
    assert not refused.allowed and "api" in refused.reason
    assert dev.visible(["api", "web", "db"]) == ["web"]


def test_a_token_never_has_more_than_its_user() -> None:
    assert narrow(Role.DEVELOPER, None, Role.ADMIN, None) == (Role.DEVELOPER, None)
    assert narrow(Role.ADMIN, None, Role.VIEWER, frozenset({"a"})) == (Role.VIEWER, frozenset({"a"}))
    assert narrow(Role.DEVELOPER, frozenset({"a", "b"}), None, frozenset({"b", "c"})) == (
        Role.DEVELOPER,
        frozenset({"b"}),
    )
    assert narrow(Role.VIEWER, frozenset({"a"}), None, None) == (Role.VIEWER, frozenset({"a"}))


def test_admins_are_never_scoped_and_an_empty_list_means_every_app() -> None:
    assert scope_of(Role.ADMIN, ["a"]) is None
    assert scope_of(Role.VIEWER, []) is None
    assert scope_of(Role.VIEWER, ["a"]) == frozenset({"a"})


@pytest.mark.parametrize("bad", ["", "Admin", "-x", "a b", "x" * 65, "../etc", "a;rm"])
def test_bad_names_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        validate_account_name(bad)


@pytest.mark.parametrize("bad", ["", "short", "x" * 1025, "with\nnewline"])
def test_bad_passwords_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        validate_password(bad)


def test_unknown_roles_are_refused() -> None:
    assert parse_role("viewer") is Role.VIEWER
    with pytest.raises(InvalidInput, match="unknown role"):
        parse_role("root")


def test_token_secrets_are_random_and_stored_as_a_hash() -> None:
    one, two = generate_token_secret(), generate_token_secret()
    assert one != two and one.startswith("dy_")
    assert token_digest(one) == token_digest(one) != token_digest(two)
    assert one not in token_digest(one)


def test_durations_and_expiry() -> None:
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_duration("12h") == timedelta(hours=12)
    with pytest.raises(InvalidInput):
        parse_duration("forever")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert is_expired(now, now) and not is_expired(None, now) and not is_expired(now + timedelta(1), now)
