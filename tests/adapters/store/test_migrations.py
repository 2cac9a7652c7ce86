"""Schema migrations: idempotent upgrades that keep data, and a schema that matches tables.py."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
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
    store = SqlStore(database_url, cipher)
    try:
        store.create_app("web")
        store.add_domain("web", "web.example.com")
        store.update_config("web", set_={"SECRET": "s3cret"}, unset=[])
    finally:
        store.close()

    upgrade_database(database_url)
    upgrade_database(database_url)

    store = SqlStore(database_url, cipher)
    try:
        assert store.get_app("web").domains == ("web.example.com",)
        assert store.get_config("web") == {"SECRET": "s3cret"}
    finally:
        store.close()
    assert current_revision(database_url) == "0001"


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
