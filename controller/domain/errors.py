"""The root exception of Dockyard and the named errors every layer raises.

Each error has a kind (`ErrorKind`): what went wrong, in the caller's terms. The API maps
each kind to one HTTP status (`controller.api.errors`), so the layers below never think
in HTTP.
"""

from enum import StrEnum
from typing import ClassVar


class ErrorKind(StrEnum):
    """What kind of failure an error is, whichever interface reports it."""

    INTERNAL = "internal"  # Dockyard or what it drives failed (a build, a health check)
    INVALID = "invalid"  # the input broke a rule
    UNAUTHORIZED = "unauthorized"  # no valid credentials
    FORBIDDEN = "forbidden"  # valid credentials, not allowed
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"  # clashes with the current state
    TOO_LARGE = "too_large"  # a body or archive over its limit
    RATE_LIMITED = "rate_limited"  # too many at once, or too many attempts: retry later
    UPSTREAM_FAILED = "upstream_failed"  # a server Dockyard asked (a CA, a git remote) failed
    UNAVAILABLE = "unavailable"  # a part Dockyard needs is down or full: retry later


class DockyardError(Exception):
    """Root of every error Dockyard raises on purpose."""

    kind: ClassVar[ErrorKind] = ErrorKind.INTERNAL


class InvalidInput(DockyardError):
    """Untrusted input broke a rule; nothing was changed."""

    kind = ErrorKind.INVALID


class NotFound(DockyardError):
    """The named app, release or deploy does not exist."""

    kind = ErrorKind.NOT_FOUND


class Conflict(DockyardError):
    """The request clashes with existing state (a name or domain already taken)."""

    kind = ErrorKind.CONFLICT


class DeliveryReceived(Conflict):
    """A webhook delivery (provider and delivery id) was recorded before: its retry changes nothing."""


class PayloadTooLarge(DockyardError):
    """An uploaded body is over its size limit."""

    kind = ErrorKind.TOO_LARGE


class RuntimeUnavailable(DockyardError):
    """The Docker daemon cannot be reached; the controller keeps running and retries."""

    kind = ErrorKind.UNAVAILABLE


class BuildFailed(DockyardError):
    """The image build failed; the message carries the build's own error."""


class HealthCheckFailed(DockyardError):
    """New containers exited or never became healthy within the budget."""


class ConnectionRefused(HealthCheckFailed):
    """Nothing listened on the port the health check tried (the app uses another port?)."""

    def __init__(self, message: str, *, port: int = 0) -> None:
        super().__init__(message)
        self.port = port


class ProxyConfigRejected(DockyardError):
    """nginx refused the rendered config; the previous config was restored."""


class DeployCancelled(DockyardError):
    """The deploy was cancelled or timed out before it switched traffic."""


class Unauthenticated(DockyardError):
    """No credential, or one that is unknown, revoked or expired."""

    kind = ErrorKind.UNAUTHORIZED
