"""The build context sent to the engine, with Dockyard's image labels in one LABEL instruction.

The build API's `labels=` parameter makes Docker 20.10's classic builder append one LABEL
step per label, each with its own intermediate container (four labels cost ~0.4 s on
these machines, more than the rest of a small rebuild). Here the app's Dockerfile is copied
into the context under `LABELLED_DOCKERFILE` with a single LABEL line appended: one step.
The copy is listed in the `.dockerignore` the engine reads, so `COPY .` never sees it; the
app's own Dockerfile is untouched, and `.dockerignore` gets only a line that is the same on
every build, so the layer cache of `COPY .` steps keeps working.
"""

import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO

LABELLED_DOCKERFILE = ".dockyard.Dockerfile"
DOCKERFILE = "Dockerfile"
DOCKERIGNORE = ".dockerignore"
# Label keys and values written without quoting rules to get wrong; others go through labels=.
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]*")
# Parser directives (`# escape=``) come first in a Dockerfile, before any other line.
_DIRECTIVE = re.compile(r"#\s*([A-Za-z]+)\s*=\s*(\S*)\s*")


def dockerignore_patterns(root: Path) -> list[str]:
    """The patterns of `root/.dockerignore`, parsed the way docker-py's own build does."""
    ignore_file = root / DOCKERIGNORE
    if not ignore_file.is_file():
        return []
    lines = (line.strip() for line in ignore_file.read_text(errors="replace").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def labelled_dockerfile(dockerfile: str, labels: Mapping[str, str]) -> str | None:
    """`dockerfile` with one `LABEL` line for `labels` appended; None if that is not safe.

    Not safe: a label that would need quoting, or a last instruction that ends in a line
    continuation (the appended line would become part of it).
    """
    if not labels or not all(_PLAIN.fullmatch(text) for item in labels.items() for text in item):
        return None
    escape = _escape_character(dockerfile)
    instructions = [line.strip() for line in dockerfile.splitlines() if line.strip()]
    instructions = [line for line in instructions if not line.startswith("#")]
    if instructions and instructions[-1].endswith(escape):
        return None
    pairs = " ".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return dockerfile + ("" if dockerfile.endswith("\n") or not dockerfile else "\n") + f"LABEL {pairs}\n"


def _escape_character(dockerfile: str) -> str:
    for line in dockerfile.splitlines():
        match = _DIRECTIVE.fullmatch(line.strip())
        if match is None:
            break
        if match.group(1).lower() == "escape" and match.group(2):
            return match.group(2)
    return "\\"


def labelled_context(context_dir: Path, labels: Mapping[str, str]) -> IO[bytes] | None:
    """A tar of `context_dir` (as docker-py would send it) plus `LABELLED_DOCKERFILE`.

    Returns None when the labels cannot be put into the Dockerfile safely (no readable
    UTF-8 Dockerfile, see `labelled_dockerfile`, a file of that name in the context, a
    `.dockerignore` that is not a file):
    the caller then passes them with `labels=` instead. The caller closes the file.
    """
    from docker.utils.build import create_archive, exclude_paths

    if (context_dir / LABELLED_DOCKERFILE).exists() or (context_dir / LABELLED_DOCKERFILE).is_symlink():
        return None
    ignore_file = context_dir / DOCKERIGNORE
    if ignore_file.exists() and not ignore_file.is_file():
        return None  # a directory of that name: replacing it with a file would mangle the context
    try:
        dockerfile = (context_dir / DOCKERFILE).read_bytes().decode()
    except (OSError, UnicodeDecodeError):
        return None
    labelled = labelled_dockerfile(dockerfile, labels)
    if labelled is None:
        return None
    patterns = dockerignore_patterns(context_dir)
    if ignore_file.is_file():
        original = ignore_file.read_text(errors="replace")
        ignore = original + ("" if original.endswith("\n") or not original else "\n")
    else:
        ignore = f"{DOCKERIGNORE}\n"  # there was none: keep `COPY .` from seeing this one
    ignore += f"{LABELLED_DOCKERFILE}\n"
    archive: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - returned to the caller
    try:
        create_archive(
            root=str(context_dir),
            files=sorted(exclude_paths(str(context_dir), patterns, dockerfile=DOCKERFILE)),
            fileobj=archive,
            extra_files=[(DOCKERIGNORE, ignore), (LABELLED_DOCKERFILE, labelled)],
        )
    except BaseException:
        archive.close()
        raise
    return archive
