"""Durable state in SQL (SQLite by default, PostgreSQL optional) and its schema migrations."""

from collections.abc import Callable

from controller.adapters.store.sql_store import SqlStore

__all__ = ["SqlStore", "upgrade_database"]


def __getattr__(name: str) -> Callable[[str], None]:
    """`upgrade_database` is imported on use: Alembic stays out of the resident controller."""
    if name == "upgrade_database":
        from controller.adapters.store.migrate import upgrade_database

        return upgrade_database
    raise AttributeError(name)
