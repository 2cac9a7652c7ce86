"""FastAPI dependencies: the services of the running app (auth is in `controller.api.auth`)."""

from typing import Annotated

from fastapi import Depends, Request

from controller.wiring import Services

# The dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency on
# the threadpool, a thread hop per request for what is a dict lookup and a comparison.


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
