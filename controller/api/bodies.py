"""Reading request bodies whose size is only known as they arrive (chunked uploads)."""

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import Request

from controller.domain.errors import PayloadTooLarge

SPOOL_IN_MEMORY = 1024 * 1024


async def _counted_chunks(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The body's chunks as they come; PayloadTooLarge as soon as they add up to over `limit`."""
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
        yield chunk


async def read_limited(request: Request, limit: int) -> bytes:
    """Read a body, counting as it comes, so a chunked body cannot exceed the limit."""
    return b"".join([chunk async for chunk in _counted_chunks(request, limit)])


async def spool_limited(
    request: Request, limit: int, *, directory: Path
) -> "tempfile.SpooledTemporaryFile[bytes]":
    """Write a body to a temporary file (in memory while small) as it comes, counting it.

    The caller closes the file (which deletes it); it is rewound, ready to read.
    """
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, mode="w+b", dir=str(directory))  # noqa: SIM115
    try:
        async for chunk in _counted_chunks(request, limit):
            spool.write(chunk)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool
