"""The ports of the certificate service: a CA to order from, and where certificates are kept."""

from collections.abc import Callable, Sequence
from typing import Protocol

from controller.domain.certificates import CertificateState, IssuedCertificate
from controller.services.ports import LogSink


class CertificateIssuer(Protocol):
    """An ACME CA, answered over http-01 from the proxy's webroot."""

    def issue(self, domains: Sequence[str], *, log: LogSink) -> IssuedCertificate:
        """One certificate covering `domains` (already validated names).

        Raises ChallengeFailed (per-domain CA errors) or CertificateError.
        """


class CertificateStore(Protocol):
    """Each app's certificate files and status, kept across restarts."""

    def paths(self, app: str) -> tuple[str, str]:
        """(chain path, key path) as the proxy reads them."""

    def load(self, app: str) -> CertificateState:
        """The app's state; its certificate is the one installed (None if none)."""

    def save(self, state: CertificateState) -> None: ...

    def install(self, app: str, fullchain_pem: bytes, key_pem: bytes) -> Callable[[], None]:
        """Replace the chain and key atomically (0600); returns a function that puts the old ones back."""

    def remove(self, app: str) -> None: ...

    def append_log(self, app: str, line: str) -> None: ...

    def read_log(self, app: str, tail: int) -> list[str]: ...
