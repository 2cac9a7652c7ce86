"""Schema migrations: idempotent upgrades that keep data, and a schema that matches tables.py."""

from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from controller.adapters.secrets import Cipher
from controller.adapters.store import SqlStore, upgrade_database
from controller.adapters.store.engine import normalize_url
from controller.adapters.store.migrate import alembic_config
from controller.adapters.store.tables import metadata


def current_revision(url: str) -> str:
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            assert "alembic_version" in inspect(conn).get_table_names()
            return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())
    finally:
        engine.dispose()


def test_upgrade_is_idempotent_and_keeps_rows(database_url: str, cipher: Cipher) -> None:
    command.upgrade(alembic_config(database_url), "0001")
    assert current_revision(database_url) == "0001"
    engine = create_engine(normalize_url(database_url))
    try:
        with engine.begin() as conn:  # rows as a 0001-era controller wrote them
            conn.execute(
                text("INSERT INTO apps (name, created_at, web_scale) VALUES ('web', :now, 1)"),
                {"now": datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)},
            )
            conn.execute(text("INSERT INTO domains (domain, app) VALUES ('web.example.com', 'web')"))
            conn.execute(
                text("INSERT INTO config_vars (app, key, value) VALUES ('web', 'SECRET', :value)"),
                {"value": cipher.encrypt("s3cret")},
            )
    finally:
        engine.dispose()

    upgrade_database(database_url)
    upgrade_database(database_url)

    store = SqlStore(database_url, cipher)
    try:
        assert store.get_app("web").domains == ("web.example.com",)
        assert store.get_config("web") == {"SECRET": "s3cret"}
        assert store.get_serving("web") is None
    finally:
        store.close()
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    assert current_revision(database_url) == head


def test_migrated_schema_matches_the_tables_the_store_uses(database_url: str) -> None:
    upgrade_database(database_url)
    engine = create_engine(normalize_url(database_url))
    try:
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    finally:
        engine.dispose()


def test_downgrade_to_base_removes_the_schema(database_url: str) -> None:
    upgrade_database(database_url)
    command.downgrade(alembic_config(database_url), "base")
    engine = create_engine(normalize_url(database_url))
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == {"alembic_version"}
    finally:
        engine.dispose()
