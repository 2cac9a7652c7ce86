"""Routes of deploys: upload a build context, list and inspect deploys, follow their logs."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from controller.adapters.archive import extract_archive, source_digest
from controller.api.deps import ServicesDep, require_token
from controller.api.schemas import DeployPublic
from controller.domain.errors import InvalidInput, PayloadTooLarge
from controller.domain.names import validate_app_name

router = APIRouter(prefix="/api/v1", tags=["deploys"], dependencies=[Depends(require_token)])
FOLLOW_POLL = 0.05


async def _read_body(request: Request, limit: int) -> bytes:
    """Read an upload, counting as it comes, so a chunked body cannot exceed the limit."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the upload is larger than {limit // (1024 * 1024)} MiB")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/apps/{name}/deploys",
    response_model=DeployPublic,
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra={
        "requestBody": {"content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}}}
    },
)
async def deploy_archive(name: str, request: Request, services: ServicesDep) -> DeployPublic:
    """Build and deploy a tar (optionally gzipped) of a directory that has a Dockerfile."""
    validate_app_name(name)
    await run_in_threadpool(services.apps.get, name)
    limit = services.settings.max_upload_mb * 1024 * 1024
    data = await _read_body(request, limit)
    if not data:
        raise InvalidInput("the request body must be a tar archive of the build context")

    def unpack(dest: Path) -> str:
        extract_archive(data, dest, max_bytes=limit * 4)
        if not (dest / "Dockerfile").is_file():
            raise InvalidInput("the build context has no Dockerfile at its top level")
        return source_digest(dest)

    deploy = await run_in_threadpool(services.deploys.request_build, name, unpack=unpack)
    return DeployPublic.of(deploy)


@router.get("/apps/{name}/deploys", response_model=list[DeployPublic])
def list_app_deploys(
    name: str, services: ServicesDep, limit: int = Query(default=20, ge=1, le=500)
) -> list[DeployPublic]:
    services.apps.get(name)
    return [DeployPublic.of(d) for d in services.store.list_deploys(name, limit=limit)]


@router.get("/deploys/{deploy_id}", response_model=DeployPublic)
def get_deploy(deploy_id: str, services: ServicesDep) -> DeployPublic:
    return DeployPublic.of(services.store.get_deploy(deploy_id))


@router.get("/deploys/{deploy_id}/log")
async def deploy_log(deploy_id: str, services: ServicesDep, follow: bool = False) -> StreamingResponse:
    """The deploy's log as text lines; with follow, stays open until the deploy ends."""
    await run_in_threadpool(services.store.get_deploy, deploy_id)

    async def lines() -> AsyncIterator[bytes]:
        cursor = 0
        while True:
            new, finished = await run_in_threadpool(services.logs.read_from, deploy_id, cursor)
            if new:
                cursor += len(new)
                yield ("\n".join(new) + "\n").encode()
            if finished or not follow:
                return
            await asyncio.sleep(FOLLOW_POLL)

    return StreamingResponse(lines(), media_type="text/plain; charset=utf-8")
