"""Schema migrations: bring a database to the newest revision with Alembic, from code."""

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config for `url` without an alembic.ini (also usable for `command.revision`)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would eat the '%' of percent-encoded passwords.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_database(url: str) -> None:
    """Create or upgrade the schema at `url` to the newest revision; a no-op when current.

    Runs at controller start, before the store is used. Needs no secret key.
    """
    command.upgrade(alembic_config(url), "head")


if __name__ == "__main__":  # run by upgrade.upgrade_database_in_child
    import os

    upgrade_database(os.environ["DOCKYARD_MIGRATE_URL"])
