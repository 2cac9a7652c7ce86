"""The git side of the store: app sources (secrets encrypted), SSH keys, webhook deliveries."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text

from controller.adapters.store import SqlStore
from controller.adapters.store.engine import normalize_url
from controller.domain.errors import Conflict, NotFound
from controller.domain.git_records import AppSource, DeliveryStatus, SshKey, WebhookDelivery
from controller.domain.models import Deploy, DeployKind, DeployStatus


def delivery(app: str = "web", delivery_id: str = "d1", commit: str = "a" * 40) -> WebhookDelivery:
    return WebhookDelivery(
        app=app,
        provider="github",
        delivery_id=delivery_id,
        branch="main",
        commit=commit,
        received_at=datetime.now(UTC),
    )


def test_app_source_round_trip_with_secrets_encrypted(store: SqlStore, database_url: str) -> None:
    store.create_app("web")
    assert store.get_app_source("web") is None
    source = AppSource(
        app="web",
        webhook_secret="hook-secret-123",
        branch="release",
        repo_url="https://example.com/o/r.git",
        repo_username="oauth2",
        repo_token="token-456",
        deploy_key="-----BEGIN OPENSSH PRIVATE KEY-----\nkey-789\n",
        deploy_key_public="ssh-ed25519 AAAA x",
    )
    store.put_app_source(source)
    assert store.get_app_source("web") == source
    store.put_app_source(AppSource(app="web", webhook_secret="other"))
    assert store.get_app_source("web") == AppSource(app="web", webhook_secret="other")
    store.put_app_source(source)

    engine = create_engine(normalize_url(database_url))
    try:
        with engine.connect() as conn:
            raw = " ".join(str(v) for v in conn.execute(text("SELECT * FROM app_sources")).one())
    finally:
        engine.dispose()
    for secret in ("hook-secret-123", "token-456", "key-789"):
        assert secret not in raw

    with pytest.raises(NotFound):
        store.get_app_source("ghost")
    with pytest.raises(NotFound):
        store.put_app_source(AppSource(app="ghost", webhook_secret="x"))
    store.delete_app("web")
    store.create_app("web")
    assert store.get_app_source("web") is None


def test_ssh_keys(store: SqlStore) -> None:
    now = datetime.now(UTC)
    key = SshKey(
        name="laptop", key_type="ssh-ed25519", key_data="AAAA1", fingerprint="SHA256:one", created_at=now
    )
    store.add_ssh_key(key)
    with pytest.raises(Conflict):
        store.add_ssh_key(key)
    with pytest.raises(Conflict, match="already added as 'laptop'"):
        store.add_ssh_key(
            SshKey(
                name="other",
                key_type="ssh-ed25519",
                key_data="AAAA1",
                fingerprint="SHA256:one",
                created_at=now,
            )
        )
    store.add_ssh_key(
        SshKey(name="ci", key_type="ssh-ed25519", key_data="AAAA2", fingerprint="SHA256:two", created_at=now)
    )
    assert [k.name for k in store.list_ssh_keys()] == ["ci", "laptop"]
    assert store.list_ssh_keys()[1] == key
    store.remove_ssh_key("laptop")
    with pytest.raises(NotFound):
        store.remove_ssh_key("laptop")
    assert [k.name for k in store.list_ssh_keys()] == ["ci"]


def test_webhook_deliveries_are_unique_per_app_and_ordered(store: SqlStore) -> None:
    store.create_app("web")
    store.create_app("api-2")
    (first,) = store.add_webhook_deliveries([delivery()])
    assert first is not None and first.seq is not None
    # In one batch: a replay of a recorded one, a new one, its own replay, another app's.
    replay, second, again, other_app = store.add_webhook_deliveries(
        [
            delivery(),
            delivery(delivery_id="d2", commit="b" * 40),
            delivery(delivery_id="d2"),
            delivery(app="api-2"),
        ]
    )
    assert replay is None and again is None
    assert second is not None and other_app is not None
    assert [d.seq for d in store.pending_webhook_deliveries()] == [first.seq, second.seq, other_app.seq]

    store.finish_webhook_deliveries([first.seq], status=DeliveryStatus.SUPERSEDED)
    assert second.seq is not None
    store.finish_webhook_deliveries([second.seq], status=DeliveryStatus.QUEUED, deploy_id="dep1")
    assert [d.app for d in store.pending_webhook_deliveries()] == ["api-2"]
    listed = store.list_webhook_deliveries("web")
    assert [(d.delivery_id, d.status, d.deploy_id, d.commit) for d in listed] == [
        ("d2", DeliveryStatus.QUEUED, "dep1", "b" * 40),
        ("d1", DeliveryStatus.SUPERSEDED, None, "a" * 40),
    ]
    assert store.add_webhook_deliveries([delivery(app="ghost")]) == [None]
    store.delete_app("web")
    store.create_app("web")
    assert store.add_webhook_deliveries([delivery()])[0] is not None  # rows went with the app


def test_deploys_are_stored_with_their_deliveries_in_one_transaction(store: SqlStore) -> None:
    store.create_app("web")
    at = datetime.now(UTC)

    def build(deploy_id: str, app: str = "web") -> tuple[Deploy, dict[str, object]]:
        return Deploy(deploy_id, app, DeployKind.BUILD, DeployStatus.QUEUED, created_at=at), {}

    (first,) = store.create_deploys([build("aaaa0001")], deliveries=[delivery(delivery_id="d1")])
    assert first is None
    # A retry of d1, d2 twice in one batch, a deploy with no delivery, another app's.
    outcomes = store.create_deploys(
        [
            build("aaaa0002"),
            build("aaaa0003"),
            build("aaaa0004"),
            build("aaaa0005"),
            build("aaaa0006", "gone"),
        ],
        deliveries=[
            delivery(delivery_id="d1"),
            replace(delivery(delivery_id="d2"), deploy_id="aaaa0003"),
            delivery(delivery_id="d2"),
            None,
            delivery(app="gone", delivery_id="d3"),
        ],
    )
    assert [type(outcome).__name__ for outcome in outcomes] == [
        "DeliveryReceived",
        "NoneType",
        "DeliveryReceived",
        "NoneType",
        "NotFound",
    ]
    assert isinstance(outcomes[0], Conflict)
    assert {d.id for d in store.list_deploys(app="web")} == {"aaaa0001", "aaaa0003", "aaaa0005"}
    listed = store.list_webhook_deliveries("web")
    assert [(d.delivery_id, d.deploy_id) for d in listed] == [("d2", "aaaa0003"), ("d1", None)]
