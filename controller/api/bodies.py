"""Reading request bodies whose size is only known as they arrive (chunked uploads)."""

from fastapi import Request

from controller.domain.errors import PayloadTooLarge


async def read_limited(request: Request, limit: int) -> bytes:
    """Read a body, counting as it comes, so a chunked body cannot exceed the limit."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
