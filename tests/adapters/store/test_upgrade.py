"""Migrations run in a child process, so the controller never loads Alembic."""

import subprocess
import sys
from pathlib import Path

import pytest

from controller.adapters.store import upgrade
from controller.adapters.store.upgrade import (
    current_revision,
    head_revision,
    upgrade_database,
    upgrade_database_in_child,
)
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


def test_the_head_read_from_the_scripts_is_alembics() -> None:
    from alembic.script import ScriptDirectory

    from controller.adapters.store.migrate import alembic_config

    assert head_revision() == ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_scripts_that_are_not_one_line_of_revisions_have_no_head(tmp_path: Path) -> None:
    def script(name: str, revision: str, down: str | None) -> None:
        down_text = "None" if down is None else f'"{down}"'
        (tmp_path / f"{name}.py").write_text(
            f'revision: str = "{revision}"\ndown_revision: str | None = {down_text}\n'
        )

    script("a", "0001", None)
    script("b", "0002", "0001")
    assert head_revision(tmp_path) == "0002"
    script("c", "0003", "0001")  # a branch: two heads
    assert head_revision(tmp_path) is None
    (tmp_path / "c.py").write_text("revision = compute()\n")  # not a literal
    assert head_revision(tmp_path) is None


def test_a_database_at_the_head_starts_no_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert current_revision(url) is None  # a new database
    children: list[str] = []

    def child(url: str, *, timeout: float = 300) -> None:
        children.append(url)
        upgrade_database_in_child(url, timeout=timeout)

    monkeypatch.setattr(upgrade, "upgrade_database_in_child", child)
    upgrade_database(url)
    assert children == [url] and current_revision(url) == head_revision()
    upgrade_database(url)
    assert children == [url]  # at the head: no child

    from alembic import command

    from controller.adapters.store.migrate import alembic_config

    older = f"sqlite:///{tmp_path / 'older.sqlite'}"  # as if the controller were newer than its schema
    command.upgrade(alembic_config(older), "0005")
    assert current_revision(older) == "0005"
    upgrade_database(older)
    assert children == [url, older] and current_revision(older) == head_revision()
