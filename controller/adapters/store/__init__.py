"""Durable state in SQL (SQLite by default, PostgreSQL optional) and its schema migrations."""

from controller.adapters.store.migrate import upgrade_database
from controller.adapters.store.sql_store import SqlStore

__all__ = ["SqlStore", "upgrade_database"]
