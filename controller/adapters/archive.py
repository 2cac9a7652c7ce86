"""Build-context archives: pack a directory (client side), extract an untrusted upload safely
and fingerprint the result (server side).

Extraction trusts nothing in the archive: every member is checked before anything is
written, files are created with O_EXCL|O_NOFOLLOW, symlinks are made last and then
resolved on disk, and a refused archive leaves the destination empty.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from controller.adapters.build_context import dockerignore_patterns
from controller.domain.errors import InvalidInput, PayloadTooLarge

ALWAYS_EXCLUDED = ".git"
MAX_MEMBERS = 100_000
# Tar headers and padding are not content; allow for them on top of max_bytes.
TAR_OVERHEAD_FACTOR = 2
TAR_OVERHEAD_BYTES = 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
COPY_CHUNK_BYTES = 1024 * 1024
PACK_GZIP_LEVEL = 1
FILE_MODE = 0o644
EXECUTABLE_MODE = 0o755
DIRECTORY_MODE = 0o755


# -- pack (client side) ------------------------------------------------------------------


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
        return set(_tree_paths(root))  # nothing to match, and no docker import
    # Imported here: the docker package costs the CLI ~0.1 s of start-up, and is needed
    # only to match patterns the way docker-py's own build does.
    from docker.utils.build import exclude_paths

    return set(exclude_paths(root, patterns))


def _portable_member(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """Drop special files and the packer's user and group names."""
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        return None
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    return member


# -- extract (server side) ---------------------------------------------------------------


@dataclass(frozen=True)
class _Member:
    """A checked archive member and its normalised relative path."""

    info: tarfile.TarInfo
    path: str


def extract_archive(data: bytes, dest: Path, *, max_bytes: int) -> None:
    """Safely extract an untrusted gzip or plain tar into `dest` (missing or empty).

    Raises:
        InvalidInput: not a tar, or a member escapes `dest` (absolute path, `..`,
            symlink or hard link outside), is a device or fifo, or appears twice.
        PayloadTooLarge: the files add up to more than `max_bytes`.
        ValueError: `dest` exists and is not an empty directory.
    On any error `dest` is left as it was (missing or empty).
    """
    tar_bytes = _uncompressed_tar(data, limit=max_bytes * TAR_OVERHEAD_FACTOR + TAR_OVERHEAD_BYTES)
    with _open_tar(tar_bytes) as tar:
        members = _checked_members(tar, max_bytes=max_bytes)
        created = _prepare_destination(dest)
        try:
            _write_members(tar, members, dest)
            _check_symlinks_resolve_inside(dest, members)
        except BaseException:
            _empty_destination(dest, remove=created)
            raise


def _uncompressed_tar(data: bytes, *, limit: int) -> bytes:
    """The tar stream itself: gunzipped (at most `limit` bytes) when the upload is gzip."""
    if not data.startswith(GZIP_MAGIC):
        if len(data) > limit:
            raise PayloadTooLarge(f"archive is larger than {limit} bytes")
        return data
    decompressor = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    try:
        tar_bytes = decompressor.decompress(data, limit + 1)
    except zlib.error as exc:
        raise InvalidInput(f"upload is not a valid gzip archive: {exc}") from exc
    if len(tar_bytes) > limit:
        raise PayloadTooLarge(f"archive uncompresses to more than {limit} bytes")
    if not decompressor.eof:
        raise InvalidInput("upload is not a valid gzip archive: it is truncated")
    return tar_bytes


def _open_tar(tar_bytes: bytes) -> tarfile.TarFile:
    try:
        return tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:")
    except tarfile.TarError as exc:
        raise InvalidInput(f"upload is not a tar archive: {exc}") from exc


def _checked_members(tar: tarfile.TarFile, *, max_bytes: int) -> list[_Member]:
    """Every member, checked; directories, files and hard links first, symlinks last."""
    members: list[_Member] = []
    files: set[str] = set()
    total = 0
    for info in _iterate(tar):
        path = _relative_path(info.name, member=info.name)
        if path is None:
            continue
        if len(members) >= MAX_MEMBERS:
            raise PayloadTooLarge(f"archive has more than {MAX_MEMBERS} members")
        _check_member(info, path, files)
        if info.isreg():
            total += info.size
            if total > max_bytes:
                raise PayloadTooLarge(f"archive content is larger than {max_bytes} bytes (at {info.name!r})")
        if info.isreg() or info.islnk():
            files.add(path)
        members.append(_Member(info, path))
    _check_names(members)
    return sorted(members, key=lambda member: member.info.issym())


def _iterate(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    try:
        yield from tar
    except tarfile.TarError as exc:
        raise InvalidInput(f"upload is not a valid tar archive: {exc}") from exc


def _relative_path(name: str, *, member: str) -> str | None:
    """`name` as a clean relative path; None for the archive root itself."""
    if name.startswith("/"):
        raise InvalidInput(f"archive member {member!r} has an absolute path")
    parts = PurePosixPath(name).parts
    if ".." in parts:
        raise InvalidInput(f"archive member {member!r} leaves the archive with '..'")
    return "/".join(parts) or None


def _check_member(info: tarfile.TarInfo, path: str, files: set[str]) -> None:
    """Refuse special files, escaping symlinks and hard links to anything but an earlier file."""
    if info.issym():
        _check_symlink_target(info, path)
    elif info.islnk():
        target = _relative_path(info.linkname, member=info.name)
        if target not in files:
            raise InvalidInput(
                f"archive member {info.name!r} is a hard link to {info.linkname!r}, "
                "which is not a file earlier in the archive"
            )
    elif not (info.isreg() or info.isdir()):
        raise InvalidInput(f"archive member {info.name!r} is a device, fifo or other special file")


def _check_symlink_target(info: tarfile.TarInfo, path: str) -> None:
    target = info.linkname
    if not target or target.startswith("/"):
        raise InvalidInput(f"archive member {info.name!r} is a symlink to {target!r}, outside the archive")
    resolved = os.path.normpath(os.path.join(os.path.dirname(path), target))
    if resolved == ".." or resolved.startswith("../"):
        raise InvalidInput(f"archive member {info.name!r} is a symlink to {target!r}, outside the archive")


def _check_names(members: list[_Member]) -> None:
    """No duplicates, and no member below a symlink or a file (writing there would follow it)."""
    not_directories = {member.path for member in members if not member.info.isdir()}
    seen: set[str] = set()
    for member in members:
        if member.path in seen:
            raise InvalidInput(f"archive member {member.info.name!r} appears more than once")
        seen.add(member.path)
        for parent in PurePosixPath(member.path).parents:
            if str(parent) in not_directories:
                raise InvalidInput(
                    f"archive member {member.info.name!r} is inside {str(parent)!r}, not a directory"
                )


def _prepare_destination(dest: Path) -> bool:
    """Make sure `dest` is an empty directory; True when this call created it."""
    if dest.exists():
        if not dest.is_dir() or any(dest.iterdir()):
            raise ValueError(f"extraction destination {dest} is not an empty directory")
        return False
    dest.mkdir(parents=True)
    return True


def _write_members(tar: tarfile.TarFile, members: list[_Member], dest: Path) -> None:
    for member in members:
        target = dest / member.path
        if not member.info.isdir():
            target.parent.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        if member.info.isdir():
            target.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        elif member.info.issym():
            os.symlink(member.info.linkname, target)
        elif member.info.islnk():
            os.link(dest / _hardlink_target(member), target, follow_symlinks=False)
        else:
            _write_file(tar, member.info, target)


def _hardlink_target(member: _Member) -> str:
    target = _relative_path(member.info.linkname, member=member.info.name)
    assert target is not None  # checked in _check_member
    return target


def _write_file(tar: tarfile.TarFile, info: tarfile.TarInfo, target: Path) -> None:
    """Create `target` anew (never through an existing path) with a normalised mode."""
    mode = EXECUTABLE_MODE if info.mode & 0o111 else FILE_MODE
    source = tar.extractfile(info)
    assert source is not None  # regular members always have data
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as output, source:
        shutil.copyfileobj(source, output, COPY_CHUNK_BYTES)
        os.fchmod(output.fileno(), mode)


def _check_symlinks_resolve_inside(dest: Path, members: list[_Member]) -> None:
    """Resolve every symlink on disk: chains of links that are each fine can still escape."""
    root = os.path.realpath(dest)
    for member in members:
        if member.info.issym():
            resolved = os.path.realpath(dest / member.path)
            if os.path.commonpath([root, resolved]) != root:
                raise InvalidInput(
                    f"archive member {member.info.name!r} is a symlink that resolves outside the archive"
                )


def _empty_destination(dest: Path, *, remove: bool) -> None:
    if remove:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


# -- digest --------------------------------------------------------------------------------


def source_digest(dest: Path) -> str:
    """A sha256 (hex) over the tree's sorted paths, types, modes, contents and link targets."""
    digest = hashlib.sha256()
    for relative in sorted(_tree_paths(dest)):
        digest.update(json.dumps(_digest_entry(dest / relative, relative)).encode() + b"\n")
    return digest.hexdigest()


def _tree_paths(root: Path) -> Iterator[str]:
    """Every path below `root`, relative, without following symlinks."""
    for directory, subdirectories, files in os.walk(root):
        relative_directory = os.path.relpath(directory, root)
        for name in subdirectories + files:
            yield os.path.normpath(os.path.join(relative_directory, name))


def _digest_entry(path: Path, relative: str) -> list[str | int]:
    status = path.lstat()
    mode = stat.S_IMODE(status.st_mode)
    if stat.S_ISLNK(status.st_mode):
        return ["link", relative, os.readlink(path)]
    if stat.S_ISDIR(status.st_mode):
        return ["dir", relative, mode]
    if stat.S_ISREG(status.st_mode):
        return ["file", relative, mode, _file_sha256(path)]
    return ["other", relative, mode]


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(COPY_CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()
