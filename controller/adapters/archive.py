"""Build-context archives on the server: extract an untrusted upload safely and fingerprint
the result. (Packing a directory for upload is `controller.adapters.docker.context`.)

Extraction trusts nothing in the archive and streams it. Every member goes through
Python's own `data` extraction filter (`tarfile.data_filter`, PEP 706) and then the checks
it lacks: size, member and header caps, absolute names and `..` refused outright (the filter
strips or resolves them), name lengths, duplicates, nothing written below a symlink or a
file, hard links only to earlier files. Files are created with O_EXCL|O_NOFOLLOW,
symlinks are made last and then resolved on disk, and a refused archive leaves the
destination empty.

The filter is in Python 3.11.4 and later, not in Debian 12's 3.11.2 (the installer's
default interpreter): there the project's checks stand alone, and they refuse every
hostile archive the tests know of by themselves.
"""

import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

from controller.adapters.file_tree import tree_paths
from controller.domain.errors import InvalidInput, PayloadTooLarge

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

MAX_MEMBERS = 100_000
# Tar headers and padding are not content; allow for them on top of max_bytes.
TAR_OVERHEAD_FACTOR = 2
TAR_OVERHEAD_BYTES = 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
COPY_CHUNK_BYTES = 1024 * 1024
FILE_MODE = 0o644
EXECUTABLE_MODE = 0o755
DIRECTORY_MODE = 0o755
# Python's `data` extraction filter (3.11.4+); None on older interpreters (Debian 12's 3.11.2).
DATA_FILTER: Callable[[tarfile.TarInfo, str], tarfile.TarInfo | None] | None = getattr(
    tarfile, "data_filter", None
)
NAME_MAX_BYTES = 255  # one path component (Linux NAME_MAX)
MAX_PATH_BYTES = 3072  # a member's whole path, leaving room for the build dir below PATH_MAX


# -- extract (server side) ---------------------------------------------------------------

# Extension headers (long names, pax records) are read into memory whole: cap each, how
# many may precede one member, and how many global ones an archive may have.
MAX_EXTENSION_HEADER_BYTES = 64 * 1024
MAX_EXTENSION_CHAIN = 4
MAX_GLOBAL_HEADERS = 8
EXTENSION_TYPES = (
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
    tarfile.XHDTYPE,
    tarfile.SOLARIS_XHDTYPE,
)


@dataclass(frozen=True)
class _Member:
    """A checked archive member and its normalised relative path."""

    info: tarfile.TarInfo
    path: str


def extract_archive(source: bytes | IO[bytes], dest: Path, *, max_bytes: int) -> None:
    """Safely extract an untrusted gzip or plain tar into `dest` (missing or empty).

    The archive streams from `source` (bytes, or a binary file read from its current
    position) to disk: memory stays a few MB whatever the archive, and the uncompressed
    stream may be at most about twice `max_bytes` (headers and padding) before it is
    refused.

    Raises:
        InvalidInput: not a tar, or a member escapes `dest` (absolute path, `..`,
            symlink or hard link outside), is a device or fifo, or appears twice.
        PayloadTooLarge: the files add up to more than `max_bytes`.
        ValueError: `dest` exists and is not an empty directory.
    On any error `dest` is left as it was (missing or empty).
    """
    stream = _Uncompressed(
        io.BytesIO(source) if isinstance(source, bytes) else source,
        limit=max_bytes * TAR_OVERHEAD_FACTOR + TAR_OVERHEAD_BYTES,
    )
    with _open_tar(stream) as tar:
        created = _prepare_destination(dest)
        try:
            symlinks = _write_members(tar, dest, max_bytes=max_bytes)
            stream.read_to_end()
            for member in symlinks:
                os.symlink(member.info.linkname, dest / member.path)
            _check_symlinks_resolve_inside(dest, symlinks)
        except BaseException:
            _empty_destination(dest, remove=created)
            raise


class _Uncompressed(io.RawIOBase):
    """The tar stream of an upload, gunzipped as it is read when it is gzip.

    Every read returns at most COPY_CHUNK_BYTES, and the stream refuses to yield more
    than `limit` bytes in all (PayloadTooLarge): a bomb is never inflated further.
    """

    def __init__(self, source: IO[bytes], *, limit: int) -> None:
        super().__init__()
        self._source = source
        self._limit = limit
        self._produced = 0
        self._pending = source.read(len(GZIP_MAGIC))
        gzipped = self._pending == GZIP_MAGIC
        self._inflate = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16) if gzipped else None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "WriteableBuffer") -> int:
        view = memoryview(buffer).cast("B")
        data = self._next(min(len(view), COPY_CHUNK_BYTES))
        self._produced += len(data)
        if self._produced > self._limit:
            raise PayloadTooLarge(f"archive uncompresses to more than {self._limit} bytes")
        view[: len(data)] = data
        return len(data)

    def read_to_end(self) -> None:
        """Consume what follows the tar's end marker, so a bomb behind it is still refused."""
        while self.read(COPY_CHUNK_BYTES):
            pass

    def _next(self, size: int) -> bytes:
        if self._inflate is None:
            data = self._pending[:size] or self._source.read(size)
            self._pending = self._pending[len(data) :] if self._pending else b""
            return data
        while not self._inflate.eof:
            compressed = self._inflate.unconsumed_tail or self._pending or self._source.read(COPY_CHUNK_BYTES)
            self._pending = b""
            if not compressed:
                raise InvalidInput("upload is not a valid gzip archive: it is truncated")
            try:
                data = self._inflate.decompress(compressed, size)
            except zlib.error as exc:
                raise InvalidInput(f"upload is not a valid gzip archive: {exc}") from exc
            if data:
                return data
        return b""


class _BoundedTarInfo(tarfile.TarInfo):
    """A tar header that refuses what tarfile would otherwise hold in memory unbounded."""

    def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        assert isinstance(tar, _BoundedTarFile)
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise InvalidInput(f"archive member {self.name!r} is a sparse file, which is not supported")
        if self.type in (*EXTENSION_TYPES, tarfile.XGLTYPE):
            tar.extension_chain += 1
            tar.global_headers += self.type == tarfile.XGLTYPE
            if self.size > MAX_EXTENSION_HEADER_BYTES:
                raise InvalidInput(f"archive has an extended header of {self.size} bytes")
            if tar.extension_chain > MAX_EXTENSION_CHAIN or tar.global_headers > MAX_GLOBAL_HEADERS:
                raise InvalidInput("archive has too many extended headers")
        else:
            tar.extension_chain = 0
        member: tarfile.TarInfo = tarfile.TarInfo._proc_member(self, tar)  # type: ignore[attr-defined]
        return member


class _BoundedTarFile(tarfile.TarFile):
    tarinfo = _BoundedTarInfo
    members: list[tarfile.TarInfo]
    extension_chain = 0
    global_headers = 0


def _open_tar(stream: _Uncompressed) -> _BoundedTarFile:
    try:
        return _BoundedTarFile.open(fileobj=stream, mode="r|", bufsize=tarfile.RECORDSIZE)
    except tarfile.TarError as exc:
        raise InvalidInput(f"upload is not a tar archive: {exc}") from exc


def _write_members(tar: _BoundedTarFile, dest: Path, *, max_bytes: int) -> list[_Member]:
    """Check and write each member as it streams by; return the symlinks, to be made last.

    Files, directories and hard links are written at once; symlinks wait until nothing
    else can be written through them.
    """
    checks = _MemberChecks(dest, max_bytes=max_bytes)
    symlinks: list[_Member] = []
    for info in _iterate(tar):
        member = checks.check(info)
        if member is None:
            continue
        if info.issym():
            symlinks.append(member)
        else:
            _write_member(tar, member, dest)
    return symlinks


class _MemberChecks:
    """The checks across members: count, total size, duplicates, nothing inside a non-directory."""

    def __init__(self, dest: Path, *, max_bytes: int) -> None:
        self._dest = str(dest)
        self._max_bytes = max_bytes
        self._total = 0
        self._count = 0
        self._files: set[str] = set()  # regular files and hard links: what a hard link may name
        self._not_directories: set[str] = set()
        self._seen: set[str] = set()
        self._parents: set[str] = set()  # every directory some member is inside

    def check(self, info: tarfile.TarInfo) -> _Member | None:
        path = _relative_path(info.name, member=info.name)
        if path is None:
            return None
        self._count += 1
        if self._count > MAX_MEMBERS:
            raise PayloadTooLarge(f"archive has more than {MAX_MEMBERS} members")
        _apply_data_filter(info, self._dest)
        _check_member(info, path, self._files)
        if info.isreg():
            self._total += info.size
            if self._total > self._max_bytes:
                raise PayloadTooLarge(
                    f"archive content is larger than {self._max_bytes} bytes (at {info.name!r})"
                )
        self._check_name(info, path)
        if info.isreg() or info.islnk():
            self._files.add(path)
        return _Member(info, path)

    def _check_name(self, info: tarfile.TarInfo, path: str) -> None:
        """No duplicates, and no member below a symlink or a file (writing there would follow it)."""
        if path in self._seen:
            raise InvalidInput(f"archive member {info.name!r} appears more than once")
        self._seen.add(path)
        parents = [str(parent) for parent in PurePosixPath(path).parents if str(parent) != "."]
        for parent in parents:
            if parent in self._not_directories:
                raise InvalidInput(f"archive member {info.name!r} is inside {parent!r}, not a directory")
        if not info.isdir():
            if path in self._parents:
                raise InvalidInput(
                    f"archive member {info.name!r} is not a directory, but other members are inside it"
                )
            self._not_directories.add(path)
        self._parents.update(parents)


def _apply_data_filter(info: tarfile.TarInfo, dest: str) -> None:
    """Refuse what Python's `data` filter refuses: special files, paths and links leaving `dest`.

    What it would change instead (ownership, high mode bits) Dockyard normalises itself
    when writing, the same way on every interpreter.
    """
    if DATA_FILTER is None:
        return
    try:
        DATA_FILTER(info, dest)
    except tarfile.FilterError as exc:
        raise InvalidInput(f"archive member {info.name!r} is refused: {exc}") from exc


def _iterate(tar: _BoundedTarFile) -> Iterator[tarfile.TarInfo]:
    """The members one by one, forgetting each (tarfile would keep them all)."""
    try:
        while (info := tar.next()) is not None:
            tar.members.clear()
            yield info
    except tarfile.TarError as exc:
        raise InvalidInput(f"upload is not a valid tar archive: {exc}") from exc


def _relative_path(name: str, *, member: str) -> str | None:
    """`name` as a clean relative path; None for the archive root itself."""
    if name.startswith("/"):
        raise InvalidInput(f"archive member {member!r} has an absolute path")
    parts = PurePosixPath(name).parts
    if ".." in parts:
        raise InvalidInput(f"archive member {member!r} leaves the archive with '..'")
    _check_name_lengths(parts, member=member)
    return "/".join(parts) or None


def _check_name_lengths(parts: tuple[str, ...], *, member: str) -> None:
    """Names the filesystem can hold: each part within NAME_MAX, the whole within MAX_PATH_BYTES."""
    shown = member if len(member) <= 80 else member[:77] + "..."
    if any(len(os.fsencode(part)) > NAME_MAX_BYTES for part in parts):
        raise InvalidInput(f"archive member {shown!r} has a name longer than {NAME_MAX_BYTES} bytes")
    if len(os.fsencode("/".join(parts))) > MAX_PATH_BYTES:
        raise InvalidInput(f"archive member {shown!r} has a path longer than {MAX_PATH_BYTES} bytes")


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
    _check_name_lengths(PurePosixPath(target).parts, member=info.name)
    resolved = os.path.normpath(os.path.join(os.path.dirname(path), target))
    if resolved == ".." or resolved.startswith("../"):
        raise InvalidInput(f"archive member {info.name!r} is a symlink to {target!r}, outside the archive")


def _prepare_destination(dest: Path) -> bool:
    """Make sure `dest` is an empty directory; True when this call created it."""
    if dest.exists():
        if not dest.is_dir() or any(dest.iterdir()):
            raise ValueError(f"extraction destination {dest} is not an empty directory")
        return False
    dest.mkdir(parents=True)
    return True


def _write_member(tar: tarfile.TarFile, member: _Member, dest: Path) -> None:
    target = dest / member.path
    if member.info.isdir():
        target.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        return
    target.parent.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    if member.info.islnk():
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


def _check_symlinks_resolve_inside(dest: Path, symlinks: list[_Member]) -> None:
    """Resolve every symlink on disk: chains of links that are each fine can still escape."""
    root = os.path.realpath(dest)
    for member in symlinks:
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
    for relative in sorted(tree_paths(dest)):
        digest.update(json.dumps(_digest_entry(dest / relative, relative)).encode() + b"\n")
    return digest.hexdigest()


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
