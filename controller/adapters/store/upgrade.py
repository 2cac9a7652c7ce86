"""Run the schema migrations in a short-lived child process.

Alembic and Mako cost the resident controller about 10 MB that it never needs again after
start-up; a child process gives that memory back to the system when it exits.
"""

import os
import subprocess
import sys

from controller.domain.errors import DockyardError

URL_VARIABLE = "DOCKYARD_MIGRATE_URL"  # the environment keeps passwords out of `ps`


def upgrade_database_in_child(url: str, *, timeout: float = 300) -> None:
    """Bring the schema at `url` to the newest revision; raise with Alembic's error output."""
    result = subprocess.run(
        [sys.executable, "-m", "controller.adapters.store.migrate"],
        env={**os.environ, URL_VARIABLE: url},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise DockyardError(f"database migration failed:\n{result.stderr.strip()[-4000:]}")
