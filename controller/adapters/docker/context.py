"""Build contexts: a directory packed for upload, and the context sent to the engine.

`pack_directory` makes the tar a client uploads (honouring `.dockerignore`, without `.git`).

`labelled_context` puts Dockyard's image labels in one LABEL instruction. The build API's
`labels=` parameter makes Docker 20.10's classic builder append one LABEL
step per label, each with its own intermediate container (four labels cost ~0.4 s on
these machines, more than the rest of a small rebuild). Here the app's Dockerfile is copied
into the context under `LABELLED_DOCKERFILE` with a single LABEL line appended: one step.
The copy is listed in the `.dockerignore` the engine reads, so `COPY .` never sees it; the
app's own Dockerfile is untouched, and `.dockerignore` gets only a line that is the same on
every build, so the layer cache of `COPY .` steps keeps working.

docker-py is imported inside the functions that need it: it costs the CLI ~0.1 s of start-up.
"""

import gzip
import io
import re
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import IO

from controller.adapters.file_tree import tree_paths
from controller.domain.build_context import DOCKERFILE

LABELLED_DOCKERFILE = ".dockyard.Dockerfile"
DOCKERIGNORE = ".dockerignore"
ALWAYS_EXCLUDED = ".git"
PACK_GZIP_LEVEL = 1
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


def pack_directory(path: Path, *, compress: bool = True) -> bytes:
    """A tar of `path` for upload, honouring its `.dockerignore` and leaving out `.git`.

    Compressed with a fast gzip level (level 9 took ~14 times as long for ~15% less on a
    source tree here); `compress=False` gives a plain tar, for a controller on loopback.
    Symlinks are stored as symlinks; sockets, fifos and devices are left out.
    """
    root = path.resolve()
    included = _included_paths(root)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for relative in sorted(included):
            if ALWAYS_EXCLUDED not in PurePosixPath(relative).parts:
                tar.add(root / relative, arcname=relative, recursive=False, filter=_portable_member)
    return gzip.compress(buffer.getvalue(), compresslevel=PACK_GZIP_LEVEL) if compress else buffer.getvalue()


def _included_paths(root: Path) -> set[str]:
    """Every path below `root` that `.dockerignore` does not exclude, relative."""
    patterns = dockerignore_patterns(root)
    if not patterns:
        return set(tree_paths(root))  # nothing to match, and no docker import
    # Matched the way docker-py's own build does.
    from docker.utils.build import exclude_paths

    return set(exclude_paths(root, patterns))


def _portable_member(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """Drop special files and the packer's user and group names."""
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        return None
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    return member


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
