"""A gzip bomb upload against a real controller: refused with 413 in bounded memory."""

import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Controller, make_controller

pytestmark = pytest.mark.integration

UPLOAD_LIMIT_MB = 16  # the archive may then hold 64 MiB of files, ~130 MiB of tar stream
BOMB_ZEROS = 512 * 1024 * 1024
RSS_GROWTH_LIMIT = 48 * 1024 * 1024


@pytest.fixture
def controller(tmp_path: Path, busybox_image: str) -> Iterator[Controller]:
    ctl = make_controller(tmp_path, DOCKYARD_MAX_UPLOAD_MB=str(UPLOAD_LIMIT_MB))
    ctl.start()
    try:
        yield ctl
    finally:
        ctl.cleanup()


def gzip_bomb(zeros: int) -> bytes:
    """`zeros` zero bytes, gzipped (about 1 KiB per MiB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1024 * 1024)
    parts = [compressor.compress(block) for _ in range(zeros // len(block))]
    return b"".join(parts) + compressor.flush()


def peak_rss(pid: int) -> int:
    """The process's high-water mark of resident memory, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/PID/status")


def test_gzip_bomb_is_refused_in_bounded_memory(controller: Controller) -> None:
    assert controller.process is not None
    assert controller.api("POST", "/apps", json={"name": "bomb"}).status_code == 201
    bomb = gzip_bomb(BOMB_ZEROS)
    assert len(bomb) < UPLOAD_LIMIT_MB * 1024 * 1024
    before = peak_rss(controller.process.pid)

    answer = controller.api(
        "POST", "/apps/bomb/deploys", content=bomb, headers={"Content-Type": "application/gzip"}
    )

    after = peak_rss(controller.process.pid)
    print(f"controller peak RSS {before / 2**20:.0f} MiB -> {after / 2**20:.0f} MiB")
    assert answer.status_code == 413, answer.text
    assert "uncompresses to more than" in answer.json()["detail"]
    assert after - before < RSS_GROWTH_LIMIT
    assert controller.api("GET", "/apps/bomb/deploys").json() == []
