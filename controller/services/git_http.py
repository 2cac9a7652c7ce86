"""Smart-HTTP git: which repo a request may reach, then `git http-backend` serving it."""

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from controller.domain.git_refs import GitService
from controller.services.git_ports import CgiResponse, HttpBackend
from controller.services.git_push import GitPushService, Pusher

PUSH_TICKET_ENV = "DOCKYARD_PUSH_TICKET"


@dataclass(frozen=True)
class GitHttpRequest:
    """One smart-HTTP request, as the backend needs it (`headers` with lowercase names)."""

    method: str
    path_info: str
    query: str
    headers: Mapping[str, str]
    body: AsyncIterator[bytes]
    remote_user: str
    remote_addr: str


class GitHttpService:
    """Opens an app's repo for a smart-HTTP request (a push gets its ticket), then serves it."""

    def __init__(self, *, push: GitPushService, backend: HttpBackend) -> None:
        self._push = push
        self._backend = backend

    def open(self, app: str, *, service: GitService, pusher: Pusher | None) -> dict[str, str]:
        """Check `service` may run on the app's repo; returns the environment of the request.

        A push (`pusher` given: whom the API token names) gets a ticket for its hook.

        Raises:
            DockyardError: the repo may not be served (no such app, invalid name...).
        """
        self._push.open_repo(app, service=service)
        return {PUSH_TICKET_ENV: self._push.http_push_ticket(app, pusher)} if pusher is not None else {}

    async def serve(self, request: GitHttpRequest, *, env: Mapping[str, str]) -> CgiResponse:
        """Run `git http-backend` for an opened request; its answer streams as git writes it."""
        return await self._backend.run(
            method=request.method,
            path_info=request.path_info,
            query=request.query,
            headers=request.headers,
            body=request.body,
            remote_user=request.remote_user,
            remote_addr=request.remote_addr,
            extra_env=env,
        )
