"""Build contexts on disk: `<builds dir>/<deploy id>/`, one directory per build, private to the controller."""

import shutil
from collections.abc import Collection
from pathlib import Path
from typing import IO

from controller.adapters.archive import extract_archive, source_digest
from controller.domain.build_context import has_dockerfile

APP_JSON = "app.json"


class BuildDirs:
    """The `BuildContexts` port over a directory (the settings' builds dir)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def create(self, deploy_id: str) -> Path:
        context_dir = self.path(deploy_id)
        context_dir.mkdir(parents=True)
        return context_dir

    def renew(self, deploy_id: str) -> Path:
        self.discard(deploy_id)
        return self.create(deploy_id)

    def path(self, deploy_id: str) -> Path:
        return self._root / deploy_id

    def exists(self, deploy_id: str) -> bool:
        return self.path(deploy_id).is_dir()

    def move(self, deploy_id: str, to_deploy_id: str) -> None:
        self.path(deploy_id).rename(self.path(to_deploy_id))

    def discard(self, deploy_id: str) -> None:
        shutil.rmtree(self.path(deploy_id), ignore_errors=True)

    def discard_all_except(self, deploy_ids: Collection[str]) -> None:
        for leftover in self._root.iterdir():
            if leftover.name not in deploy_ids:
                shutil.rmtree(leftover, ignore_errors=True)

    def unpack_archive(self, archive: IO[bytes], dest: Path, *, max_bytes: int) -> str:
        extract_archive(archive, dest, max_bytes=max_bytes)
        return source_digest(dest)

    def has_dockerfile(self, context_dir: Path) -> bool:
        return has_dockerfile(context_dir)

    def read_app_json(self, context_dir: Path) -> str | None:
        app_json = context_dir / APP_JSON
        return app_json.read_text(errors="replace") if app_json.is_file() else None
