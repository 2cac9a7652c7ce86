"""SQLAlchemy engines for Dockyard's database URLs: SQLite (WAL) or PostgreSQL (psycopg 3)."""

import contextlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_POOL_SIZE = 20
WRITE_OPTION = "dockyard_write"
PRIVATE_FILE_MODE = 0o600
_POSTGRES_ALIASES = frozenset({"postgres", "postgresql", "postgresql+psycopg"})


def normalize_url(url: str) -> URL:
    """Parse `url`; `postgres://` and `postgresql://` are rewritten to the psycopg 3 driver.

    Raises ValueError for an in-memory SQLite URL: each pooled connection would see its
    own empty database, so migrations and the store could never share one.
    """
    parsed = make_url(url)
    if parsed.drivername in _POSTGRES_ALIASES:
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ValueError("an in-memory SQLite database cannot be shared; use a file path")
    return parsed


def make_sqlite_private(url: str) -> None:
    """Create a SQLite database file 0600 (SQLite gives its WAL and shm files the same mode)
    and take group and other access off an existing one and its WAL, shm and journal.

    App names, domains, config keys and repository URLs are in there: no other local user
    may read them. Nothing to do for PostgreSQL.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return
    database = Path(parsed.database)
    fd = os.open(database, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
    os.close(fd)
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = database.with_name(database.name + suffix)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(path, PRIVATE_FILE_MODE, follow_symlinks=False)


def create_database_engine(url: str) -> Engine:
    """An engine for `url`, thread-safe, with Dockyard's per-connection settings.

    On SQLite every connection runs in WAL mode with foreign keys enforced and waits
    for locks instead of failing. SQLAlchemy emits BEGIN itself (the sqlite3 module
    would defer it past the first SELECT, breaking read-then-write atomicity): a plain
    BEGIN normally, BEGIN IMMEDIATE on engines made by `for_writing`, so concurrent
    writers queue on the busy timeout rather than fail on a stale read snapshot.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    # Connections to a file are cheap to keep: enough for every API and job thread at once,
    # so a burst of requests never opens (and configures) connections of its own.
    engine = create_engine(parsed, pool_size=SQLITE_POOL_SIZE, max_overflow=SQLITE_POOL_SIZE)
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def for_writing(engine: Engine) -> Engine:
    """The same engine (and pool), marked so SQLite transactions take the write lock first."""
    return engine.execution_options(**{WRITE_OPTION: True})


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL syncs at checkpoints, not at every commit: a killed controller
        # loses nothing it committed; only an OS crash or power cut can drop the last commits.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(WRITE_OPTION, False)
    # On the driver's connection: a statement of SQLAlchemy's own costs more than the BEGIN.
    driver = connection.connection.driver_connection
    assert driver is not None  # a connection being begun is checked out
    driver.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
