"""Errors as HTTP answers: the one place where an error's kind becomes a status code."""

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from controller.domain.errors import DockyardError, ErrorKind

HTTP_STATUS: dict[ErrorKind, int] = {
    ErrorKind.INTERNAL: status.HTTP_500_INTERNAL_SERVER_ERROR,
    ErrorKind.INVALID: status.HTTP_400_BAD_REQUEST,
    ErrorKind.UNAUTHORIZED: status.HTTP_401_UNAUTHORIZED,
    ErrorKind.FORBIDDEN: status.HTTP_403_FORBIDDEN,
    ErrorKind.NOT_FOUND: status.HTTP_404_NOT_FOUND,
    ErrorKind.CONFLICT: status.HTTP_409_CONFLICT,
    ErrorKind.TOO_LARGE: status.HTTP_413_CONTENT_TOO_LARGE,
    ErrorKind.RATE_LIMITED: status.HTTP_429_TOO_MANY_REQUESTS,
    ErrorKind.UPSTREAM_FAILED: status.HTTP_502_BAD_GATEWAY,
    ErrorKind.UNAVAILABLE: status.HTTP_503_SERVICE_UNAVAILABLE,
}


def http_status(error: DockyardError) -> int:
    """The HTTP status that answers `error`."""
    return HTTP_STATUS[error.kind]


def error_answer(error: DockyardError) -> JSONResponse:
    """`{"detail": message}` with the error's status: how the API answers a DockyardError."""
    return JSONResponse({"detail": str(error)}, status_code=http_status(error))


def install_error_handlers(app: FastAPI) -> None:
    """Answer every DockyardError with its status and `{"detail": message}`."""

    @app.exception_handler(DockyardError)
    async def dockyard_error(request: Request, exc: DockyardError) -> JSONResponse:
        return error_answer(exc)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
        """The client left (or was cut off) mid-body: nobody to answer, nothing to log."""
        return Response(status_code=400)
