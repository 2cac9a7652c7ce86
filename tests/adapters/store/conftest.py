"""Database fixtures: every store test runs on SQLite and, when configured, on PostgreSQL.

PostgreSQL comes from `DOCKYARD_TEST_POSTGRES_URL` (an admin URL, e.g.
`postgresql+psycopg://postgres@127.0.0.1:55432/postgres`); each test gets a fresh
database that is dropped afterwards. With `DOCKYARD_REQUIRE_POSTGRES=1` a missing URL
fails the PostgreSQL tests instead of skipping them (CI sets both).
"""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from controller.adapters.secrets import Cipher
from controller.adapters.store import SqlStore, upgrade_database
from controller.adapters.store.engine import normalize_url

POSTGRES_URL_ENV = "DOCKYARD_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "DOCKYARD_REQUIRE_POSTGRES"


def _fresh_postgres_database(admin_url: str) -> Iterator[str]:
    name = f"dockyard_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield normalize_url(admin_url).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database (no schema yet) on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dockyard.db'}"
        return
    admin_url = os.environ.get(POSTGRES_URL_ENV)
    if not admin_url:
        message = f"{POSTGRES_URL_ENV} is not set"
        if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
            pytest.fail(f"{message} but {REQUIRE_POSTGRES_ENV}=1")
        pytest.skip(message)
    yield from _fresh_postgres_database(admin_url)


@pytest.fixture
def cipher(tmp_path: Path) -> Cipher:
    return Cipher.from_key_file(tmp_path / "secret.key")


@pytest.fixture
def store(database_url: str, cipher: Cipher) -> Iterator[SqlStore]:
    """A store on a freshly migrated database."""
    upgrade_database(database_url)
    sql_store = SqlStore(database_url, cipher)
    yield sql_store
    sql_store.close()
