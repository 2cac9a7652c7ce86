"""Run the schema migrations in a short-lived child process, when there are any to run.

Alembic and Mako cost the resident controller about 10 MB that it never needs again after
start-up; a child process gives that memory back to the system when it exits. A database
already at the newest revision (every start but the first after an upgrade) needs no child:
that takes about a second of the controller's start on this 2-core machine.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from controller.adapters.store.engine import create_database_engine
from controller.domain.errors import DockyardError

URL_VARIABLE = "DOCKYARD_MIGRATE_URL"  # the environment keeps passwords out of `ps`
VERSIONS_DIR = Path(__file__).parent / "migrations" / "versions"
_REVISION = re.compile(r"""^revision\s*(?::[^=]*)?=\s*["']([^"']+)["']""", re.MULTILINE)
_DOWN_REVISION = re.compile(r"""^down_revision\s*(?::[^=]*)?=\s*(?:["']([^"']+)["']|None)""", re.MULTILINE)


def head_revision(versions_dir: Path = VERSIONS_DIR) -> str | None:
    """The newest revision of the migration scripts, read without Alembic; None unless the
    scripts form one straight line (then only Alembic can tell, and the child runs)."""
    parents: dict[str, str | None] = {}
    for script in sorted(versions_dir.glob("*.py")):
        source = script.read_text()
        revision, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if revision is None or down is None:
            return None
        parents[revision.group(1)] = down.group(1)
    heads = set(parents) - set(parents.values())
    if len(heads) != 1 or list(parents.values()).count(None) != 1:
        return None
    return heads.pop()


def current_revision(url: str) -> str | None:
    """The revision the database at `url` is stamped with; None if it has none or cannot be
    read (a new database, no alembic_version table, a server that does not answer)."""
    try:
        engine = create_database_engine(url)
    except SQLAlchemyError:
        return None
    try:
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()
    return versions[0] if len(versions) == 1 else None


def upgrade_database(url: str, *, timeout: float = 300) -> None:
    """Bring the schema at `url` to the newest revision: nothing to do when it is there
    already, else Alembic in a child process."""
    head = head_revision()
    if head is not None and current_revision(url) == head:
        return
    upgrade_database_in_child(url, timeout=timeout)


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
