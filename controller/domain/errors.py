"""The root exception of Dockyard and the named errors every layer raises.

The API maps each class to one HTTP status, so the layers below never think in HTTP.
"""


class DockyardError(Exception):
    """Root of every error Dockyard raises on purpose."""

    status_code = 500


class InvalidInput(DockyardError):
    """Untrusted input broke a rule; nothing was changed."""

    status_code = 400


class NotFound(DockyardError):
    """The named app, release or deploy does not exist."""

    status_code = 404


class Conflict(DockyardError):
    """The request clashes with existing state (a name or domain already taken)."""

    status_code = 409


class PayloadTooLarge(DockyardError):
    """An uploaded body is over its size limit."""

    status_code = 413


class RuntimeUnavailable(DockyardError):
    """The Docker daemon cannot be reached; the controller keeps running and retries."""

    status_code = 503


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
