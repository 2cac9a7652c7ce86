"""Walking a directory tree without following symlinks (packing and fingerprinting share it)."""

import os
from collections.abc import Iterator
from pathlib import Path


def tree_paths(root: Path) -> Iterator[str]:
    """Every path below `root`, relative, without following symlinks."""
    for directory, subdirectories, files in os.walk(root):
        relative_directory = os.path.relpath(directory, root)
        for name in subdirectories + files:
            yield os.path.normpath(os.path.join(relative_directory, name))
