"""FastAPI dependencies: the services of the running app and bearer-token auth."""

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from controller.domain.credentials import secrets_match
from controller.wiring import Services

_bearer = HTTPBearer(auto_error=False)


# The dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency on
# the threadpool, a thread hop per request for what is a dict lookup and a comparison.


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def require_token(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Accept only the admin token, compared in constant time."""
    if credentials is None or not secrets_match(credentials.credentials, services.admin_token):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or invalid API token",
            headers={"WWW-Authenticate": "Bearer"},
        )
