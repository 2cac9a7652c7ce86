"""The accounts side of the controller: users, API tokens and the audit log, started together."""

from dataclasses import dataclass

from controller.services.audit import AuditLog
from controller.services.sessions import SessionService
from controller.services.tokens import TokenService
from controller.services.users import UserService


@dataclass
class Accounts:
    users: UserService
    tokens: TokenService
    audit: AuditLog
    sessions: SessionService
    bootstrap_token: str  # admin.token / DOCKYARD_ADMIN_TOKEN, kept listed (and revocable)

    def start(self) -> None:
        self.tokens.ensure_bootstrap(self.bootstrap_token)
        self.tokens.start()
        self.audit.start()

    def stop(self) -> None:
        self.tokens.stop()
        self.audit.stop()
