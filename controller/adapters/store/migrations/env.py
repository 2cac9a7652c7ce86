"""Alembic environment: runs Dockyard's migrations online against `sqlalchemy.url`."""

from alembic import context

from controller.adapters.store.engine import create_database_engine
from controller.adapters.store.tables import metadata


def run_migrations() -> None:
    if context.is_offline_mode():
        raise RuntimeError("Dockyard's migrations run against a live database only (no --sql)")
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("sqlalchemy.url is not set; use controller.adapters.store.migrate")
    engine = create_database_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                # The engine emits BEGIN itself on SQLite too, so every upgrade is all or nothing.
                transactional_ddl=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


run_migrations()
