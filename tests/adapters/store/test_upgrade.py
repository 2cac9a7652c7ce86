"""Migrations run in a child process, so the controller never loads Alembic."""

import subprocess
import sys
from pathlib import Path

import pytest

from controller.adapters.store.upgrade import upgrade_database_in_child
from controller.domain.errors import DockyardError


def test_the_child_migrates_and_reports_failures(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade_database_in_child(url)
    upgrade_database_in_child(url)
    with pytest.raises(DockyardError, match="database migration failed"):
        upgrade_database_in_child("postgresql+psycopg://nobody@127.0.0.1:1/none", timeout=60)


def test_the_controller_does_not_import_alembic() -> None:
    code = "import sys, controller.wiring; print('alembic' in sys.modules, 'mako' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
