"""Build-context archives: packing honours .dockerignore, extraction refuses hostile tarballs."""

import gzip
import io
import os
import subprocess
import sys
import tarfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.adapters import archive
from controller.adapters.archive import extract_archive, source_digest
from controller.adapters.docker.context import pack_directory
from controller.domain.errors import InvalidInput, PayloadTooLarge

MAX = 10 * 1024 * 1024


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir() or p.is_symlink()}


def _make_project(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("print('hi')\n")
    (root / "Dockerfile").write_text("FROM scratch\n")
    (root / "node_modules" / "left-pad").mkdir(parents=True)
    (root / "node_modules" / "left-pad" / "index.js").write_text("x")
    (root / "debug.log").write_text("noise")
    (root / "keep.log").write_text("wanted")
    (root / ".git" / "objects").mkdir(parents=True)
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    (root / "link").symlink_to("src/app.py")
    (root / ".dockerignore").write_text("# deps\nnode_modules\n*.log\n!keep.log\n\n")
    return root


def _tar(*members: tuple[tarfile.TarInfo, bytes | None], compress: bool = False) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, content in members:
            tar.addfile(info, io.BytesIO(content) if content is not None else None)
    data = buffer.getvalue()
    return gzip.compress(data) if compress else data


def _file(name: str, content: bytes = b"data") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    return info, content


def _special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def _pax_header(size: int) -> bytes:
    """A pax extended header announcing `size` bytes of records, and then those bytes."""
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    info.size = size
    record = b"%d comment=" % size
    return info.tobuf(format=tarfile.USTAR_FORMAT) + record.ljust(size, b"x") + b"\0" * 1024


def test_roundtrip_honours_dockerignore_and_leaves_out_git(tmp_path: Path) -> None:
    project = _make_project(tmp_path / "project")
    dest = tmp_path / "out"

    extract_archive(pack_directory(project), dest, max_bytes=MAX)

    assert _files(dest) == {"src/app.py", "Dockerfile", "keep.log", "run.sh", "link", ".dockerignore"}
    assert (dest / "src" / "app.py").read_text() == "print('hi')\n"
    assert (dest / "link").is_symlink()
    assert os.readlink(dest / "link") == "src/app.py"
    assert os.access(dest / "run.sh", os.X_OK)
    assert not os.access(dest / "keep.log", os.X_OK)


def test_a_negated_pattern_cannot_bring_back_git(tmp_path: Path) -> None:
    project = _make_project(tmp_path / "project")
    (project / ".dockerignore").write_text("!.git\n!.git/HEAD\n")
    dest = tmp_path / "out"

    extract_archive(pack_directory(project), dest, max_bytes=MAX)

    assert not (dest / ".git").exists()


def test_without_dockerignore_everything_but_git_is_packed_plain_or_gzipped(tmp_path: Path) -> None:
    project = _make_project(tmp_path / "project")
    (project / ".dockerignore").unlink()
    (project / "node_modules" / "linked-dir").symlink_to("left-pad")

    plain = pack_directory(project, compress=False)
    gzipped = pack_directory(project)

    assert not plain.startswith(b"\x1f\x8b") and gzip.decompress(gzipped) == plain
    extract_archive(plain, tmp_path / "out", max_bytes=MAX)
    assert _files(tmp_path / "out") == _files(project) - {".git/HEAD"}
    assert (tmp_path / "out" / "node_modules" / "linked-dir").is_symlink()


def test_packing_without_dockerignore_does_not_import_docker(tmp_path: Path) -> None:
    """The docker package costs the CLI start-up; only .dockerignore matching needs it."""
    project = _make_project(tmp_path / "project")
    (project / ".dockerignore").unlink()
    script = (
        "import sys; from pathlib import Path; "
        "from controller.adapters.docker.context import pack_directory; "
        f"pack_directory(Path({str(project)!r})); print('docker' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_plain_tar_with_root_entry_extracts(tmp_path: Path) -> None:
    root, _ = _special(".", tarfile.DIRTYPE)
    data = _tar((root, None), _file("./a/b.txt", b"hello"))

    extract_archive(data, tmp_path / "out", max_bytes=MAX)

    assert (tmp_path / "out" / "a" / "b.txt").read_bytes() == b"hello"


def test_inside_links_are_kept(tmp_path: Path) -> None:
    data = _tar(
        _file("dir/file.txt", b"x"),
        _special("dir/up", tarfile.SYMTYPE, "../dir/file.txt"),
        _special("hard", tarfile.LNKTYPE, "dir/file.txt"),
    )

    extract_archive(data, tmp_path / "out", max_bytes=MAX)

    assert (tmp_path / "out" / "dir" / "up").read_bytes() == b"x"
    assert (tmp_path / "out" / "hard").stat().st_ino == (tmp_path / "out" / "dir" / "file.txt").stat().st_ino


HOSTILE: dict[str, tuple[Callable[[], bytes], type[Exception], str]] = {
    "dotdot": (lambda: _tar(_file("ok.txt"), _file("../x")), InvalidInput, "'../x'"),
    "nested dotdot": (lambda: _tar(_file("a/../../x")), InvalidInput, "a/../../x"),
    "absolute": (lambda: _tar(_file("/etc/passwd")), InvalidInput, "/etc/passwd"),
    "symlink to /etc": (lambda: _tar(_special("etc", tarfile.SYMTYPE, "/etc")), InvalidInput, "'etc'"),
    "symlink up": (lambda: _tar(_special("a", tarfile.SYMTYPE, "../../")), InvalidInput, "'a'"),
    "write through symlink": (
        lambda: _tar(_special("d", tarfile.SYMTYPE, "."), _file("d/x")),
        InvalidInput,
        "'d/x'",
    ),
    "chained symlinks escape": (
        lambda: _tar(
            _special("s", tarfile.SYMTYPE, "sub/deeper"), _special("a", tarfile.SYMTYPE, "s/../../..")
        ),
        InvalidInput,
        "'a'",
    ),
    "symlink through dot link": (
        lambda: _tar(
            _file("f"), _special("s", tarfile.SYMTYPE, "."), _special("a", tarfile.SYMTYPE, "s/../x")
        ),
        InvalidInput,
        "'a'",
    ),
    "hardlink outside": (lambda: _tar(_special("h", tarfile.LNKTYPE, "/etc/passwd")), InvalidInput, "'h'"),
    "hardlink up": (lambda: _tar(_special("h", tarfile.LNKTYPE, "../../etc/passwd")), InvalidInput, "'h'"),
    "hardlink to unknown": (lambda: _tar(_special("h", tarfile.LNKTYPE, "nothere")), InvalidInput, "'h'"),
    "char device": (lambda: _tar(_special("dev", tarfile.CHRTYPE)), InvalidInput, "'dev'"),
    "fifo": (lambda: _tar(_file("ok.txt"), _special("pipe", tarfile.FIFOTYPE)), InvalidInput, "'pipe'"),
    "duplicate": (lambda: _tar(_file("x"), _file("x")), InvalidInput, "more than once"),
    "symlink over a written directory": (
        lambda: _tar(_file("d/x"), _special("d", tarfile.SYMTYPE, "/etc")),
        InvalidInput,
        "'d'",
    ),
    "file over a written directory": (lambda: _tar(_file("d/x"), _file("d")), InvalidInput, "'d'"),
    "huge pax header": (lambda: _pax_header(1024 * 1024), InvalidInput, "extended header"),
    "sparse": (lambda: _tar(_special("s", tarfile.GNUTYPE_SPARSE)), InvalidInput, "sparse"),
    "garbage": (lambda: b"this is not a tarball at all" * 40, InvalidInput, "not a tar"),
    "garbage gzip": (lambda: b"\x1f\x8b\x08\x00garbage-after-magic", InvalidInput, "gzip"),
    "empty": (lambda: b"", InvalidInput, "tar"),
}


@pytest.fixture(params=["data-filter", "own-checks-only"])
def data_filter(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """With Python's `data` filter, and without it (Debian 12's Python 3.11.2 lacks it)."""
    if request.param == "data-filter":
        if archive.DATA_FILTER is None:
            pytest.skip("this Python has no tarfile.data_filter (3.11.4+)")
    else:
        monkeypatch.setattr(archive, "DATA_FILTER", None)
    return str(request.param)


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_hostile_archives_are_refused_and_change_nothing(
    tmp_path: Path, case: str, compress: bool, data_filter: str
) -> None:
    make, error, fragment = HOSTILE[case]
    data = make()
    if compress and not data.startswith(b"\x1f\x8b") and data:
        data = gzip.compress(data)
    dest = tmp_path / "out"

    with pytest.raises(error) as raised:
        extract_archive(data, dest, max_bytes=MAX)

    assert fragment in str(raised.value)
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(archive.DATA_FILTER is None, reason="this Python has no tarfile.data_filter (3.11.4+)")
def test_every_member_goes_through_pythons_data_filter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    real = archive.DATA_FILTER
    assert real is not None

    def spy(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        seen.append(member.name)
        return real(member, dest)

    monkeypatch.setattr(archive, "DATA_FILTER", spy)
    extract_archive(pack_directory(_make_project(tmp_path / "project")), tmp_path / "out", max_bytes=MAX)
    assert sorted(seen) == sorted(_files(tmp_path / "out") | {"src"})


@pytest.mark.skipif(archive.DATA_FILTER is None, reason="this Python has no tarfile.data_filter (3.11.4+)")
def test_what_the_data_filter_refuses_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        raise tarfile.SpecialFileError(member)

    monkeypatch.setattr(archive, "DATA_FILTER", refuse)
    dest = tmp_path / "out"
    with pytest.raises(InvalidInput, match=r"'ok\.txt' is refused"):
        extract_archive(_tar(_file("ok.txt")), dest, max_bytes=MAX)
    assert not dest.exists()


def test_refusal_leaves_an_existing_empty_dest_empty(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    data = _tar(_file("a.txt"), _special("s", tarfile.SYMTYPE, "."), _special("b", tarfile.SYMTYPE, "s/../x"))

    with pytest.raises(InvalidInput):
        extract_archive(data, dest, max_bytes=MAX)

    assert dest.is_dir()
    assert list(dest.iterdir()) == []


def test_huge_declared_size_is_refused_before_reading_it(tmp_path: Path) -> None:
    info = tarfile.TarInfo("big.bin")
    info.size = 10**12
    data = info.tobuf(format=tarfile.GNU_FORMAT)  # a header announcing 1 TB, and no data

    with pytest.raises(PayloadTooLarge, match=r"big\.bin"):
        extract_archive(data, tmp_path / "out", max_bytes=MAX)

    assert not (tmp_path / "out").exists()


def test_content_over_the_limit_is_refused(tmp_path: Path) -> None:
    data = _tar(_file("a", b"x" * 600), _file("b", b"y" * 600), compress=True)

    with pytest.raises(PayloadTooLarge):
        extract_archive(data, tmp_path / "out", max_bytes=1000)

    assert not (tmp_path / "out").exists()


def test_gzip_bomb_is_refused_without_inflating_it(tmp_path: Path) -> None:
    data = gzip.compress(b"\0" * (64 * 1024 * 1024))

    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge):
            extract_archive(data, tmp_path / "out", max_bytes=MAX)  # the bomb inflates to 6 x MAX
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 4 * 1024 * 1024


def test_a_large_archive_streams_to_disk_in_bounded_memory(tmp_path: Path) -> None:
    """64 MiB of content, from a file: written as it is read, never held in memory."""
    upload = tmp_path / "upload.tar.gz"
    with tarfile.open(upload, mode="w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo("big.bin")
        info.size = 64 * 1024 * 1024
        tar.addfile(info, _Zeros(info.size))
        dockerfile, content = _file("Dockerfile", b"FROM scratch\n")
        tar.addfile(dockerfile, io.BytesIO(content))

    tracemalloc.start()
    try:
        with upload.open("rb") as source:
            extract_archive(source, tmp_path / "out", max_bytes=100 * 1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (tmp_path / "out" / "big.bin").stat().st_size == 64 * 1024 * 1024
    assert (tmp_path / "out" / "Dockerfile").read_bytes() == b"FROM scratch\n"
    assert peak < 8 * 1024 * 1024


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self._left = size

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        count = self._left if size < 0 else min(size, self._left)
        self._left -= count
        return bytes(count)


def test_a_bomb_behind_the_end_of_the_tar_is_refused(tmp_path: Path) -> None:
    data = gzip.compress(_tar(_file("Dockerfile")) + b"\0" * (16 * 1024 * 1024))

    with pytest.raises(PayloadTooLarge):
        extract_archive(data, tmp_path / "out", max_bytes=1000)

    assert not (tmp_path / "out").exists()


def test_truncated_gzip_is_refused(tmp_path: Path) -> None:
    data = _tar(_file("Dockerfile"), _file("b", b"y" * 5000), compress=True)

    with pytest.raises(InvalidInput, match="gzip"):
        extract_archive(data[: len(data) // 2], tmp_path / "out", max_bytes=MAX)

    assert not (tmp_path / "out").exists()


def test_non_empty_dest_is_a_programming_error(tmp_path: Path) -> None:
    (tmp_path / "existing").write_text("mine")

    with pytest.raises(ValueError, match="not an empty directory"):
        extract_archive(_tar(_file("a")), tmp_path, max_bytes=MAX)

    assert (tmp_path / "existing").read_text() == "mine"


def test_source_digest_is_deterministic_and_sensitive(tmp_path: Path) -> None:
    project = _make_project(tmp_path / "project")
    data = pack_directory(project)
    first, second = tmp_path / "one", tmp_path / "two"
    extract_archive(data, first, max_bytes=MAX)
    extract_archive(data, second, max_bytes=MAX)

    digest = source_digest(first)
    assert digest == source_digest(second)
    assert len(digest) == 64

    (second / "run.sh").chmod(0o644)
    assert source_digest(second) != digest
    (second / "run.sh").chmod(0o755)
    (second / "src" / "app.py").write_text("print('bye')\n")
    assert source_digest(second) != digest


def test_source_digest_sees_symlink_targets_and_empty_dirs(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "f").write_text("x")
    (tree / "l").symlink_to("f")
    digest = source_digest(tree)

    (tree / "l").unlink()
    (tree / "l").symlink_to("g")
    assert source_digest(tree) != digest
    (tree / "l").unlink()
    (tree / "l").symlink_to("f")
    assert source_digest(tree) == digest
    (tree / "empty").mkdir()
    assert source_digest(tree) != digest
