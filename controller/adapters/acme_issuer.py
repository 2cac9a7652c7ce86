"""ACME (RFC 8555) issuance with certbot's `acme` library: account, order, http-01, finalize.

The only module that imports `acme` and `josepy`. Layout of its state dir, readable with `ls`:
    account.key      the account's EC P-256 key (0600), created once and kept
    accounts.json    directory URL -> account URL, so each CA registers once
and of the webroot nginx serves: `.well-known/acme-challenge/<token>` while an order runs.

It polls the order itself with short, growing waits (one request per poll, so at most ~10
requests in the first second whatever the number of names): the library's
`poll_and_finalize` sleeps whole seconds and turns a 0.2 s issuance into 2 s.
"""

import itertools
import json
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import requests
from acme import challenges, crypto_util, messages
from acme import errors as acme_errors
from acme.client import ClientNetwork, ClientV2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.errors import Error as JoseError
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from controller import __version__
from controller.adapters.private_files import write_private_file
from controller.adapters.x509_info import certificate_info
from controller.domain.certificates import (
    CertificateError,
    ChallengeFailed,
    ChallengeFailure,
    IssuedCertificate,
)
from controller.domain.names import is_hostname
from controller.services.ports import LogSink

logger = logging.getLogger(__name__)

ACCOUNT_KEY = "account.key"
ACCOUNTS_FILE = "accounts.json"
CHALLENGE_PATH = Path(".well-known") / "acme-challenge"
NETWORK_TIMEOUT = 30
POLL_FIRST = 0.01
POLL_MAX = 1.0
POLL_GROWTH = 1.5
PUBLIC_FILE_MODE = 0o644  # nginx workers run as nobody
PUBLIC_DIR_MODE = 0o755
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")


def _ec_key_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _polls(deadline: float, *, late: str) -> Iterator[int]:
    """Numbers the polls of an order (0, 1, ...), waiting longer and longer between them.

    Raises:
        CertificateError: (code "timeout", message `late`) when the next wait would pass `deadline`.
    """
    wait = POLL_FIRST
    for attempt in itertools.count():
        yield attempt
        if time.monotonic() + wait > deadline:
            raise CertificateError(late, code="timeout")
        time.sleep(wait)
        wait = min(wait * POLL_GROWTH, POLL_MAX)


def _refusal(body: messages.Order, refused: str) -> CertificateError:
    """The error of an order the CA turned invalid: "the CA refused {refused}: <its problem>"."""
    code, detail = _problem(body.error) if body.error else ("orderInvalid", "the order became invalid")
    return CertificateError(f"the CA refused {refused}: {detail}", code=code)


def _problem(error: messages.Error) -> tuple[str, str]:
    """(code, detail) of an ACME problem document."""
    code = error.code or str(error.typ).rsplit(":", 1)[-1]
    return code, error.detail or error.description or str(error)


class AcmeIssuer:
    """Orders one certificate for a list of domains and answers http-01 from a webroot."""

    def __init__(
        self,
        *,
        directory_url: str,
        email: str | None,
        state_dir: Path,
        webroot: Path,
        ca_bundle: Path | None = None,
        timeout: float = 90.0,
    ) -> None:
        self._directory_url = directory_url
        self._email = email
        self._state_dir = state_dir
        self._webroot = webroot
        self._verify: bool | str = str(ca_bundle) if ca_bundle else True
        self._timeout = timeout
        self._lock = threading.Lock()  # one order at a time: the nonce pool is not thread-safe
        self._client: ClientV2 | None = None

    @property
    def challenge_dir(self) -> Path:
        return self._webroot / CHALLENGE_PATH

    def prepare(self) -> None:
        """Create the state dir (private) and the webroot (readable by nginx workers)."""
        self._state_dir.mkdir(parents=True, exist_ok=True)
        self._state_dir.chmod(0o711)  # traversable: the webroot may live inside
        for directory in (self._webroot, self._webroot / ".well-known", self.challenge_dir):
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(PUBLIC_DIR_MODE)

    def issue(self, domains: Sequence[str], *, log: LogSink) -> IssuedCertificate:
        """Order, validate over http-01, finalize; return the chain and its new key.

        Raises:
            ChallengeFailed: some domains' challenges failed (each with the CA's code and detail).
            CertificateError: any other refusal by the CA, or the CA cannot be reached.
        """
        names = tuple(domains)
        if not names or any(not is_hostname(name, min_labels=2) for name in names):
            raise CertificateError(
                f"refusing to order a certificate for {names!r}", code="rejectedIdentifier"
            )
        with self._lock:
            try:
                try:
                    return self._issue(names, log)
                except messages.Error as error:
                    if error.code != "accountDoesNotExist":
                        raise
                    log("the CA does not know our account any more; registering again")
                    self._forget_account()
                    return self._issue(names, log)
            except CertificateError:
                raise
            except acme_errors.ValidationError as error:
                raise ChallengeFailed(self._failures(error.failed_authzrs)) from error
            except messages.Error as error:
                code, detail = _problem(error)
                raise CertificateError(f"the CA refused: {detail}", code=code) from error
            except requests.RequestException as error:
                self._client = None
                raise CertificateError(
                    f"cannot reach the CA at {self._directory_url}: {error}", code="caUnreachable"
                ) from error
            except (acme_errors.Error, JoseError, ValueError, OSError) as error:
                self._client = None
                raise CertificateError(f"ACME error: {error or type(error).__name__}", code="acme") from error

    # -- account ------------------------------------------------------------------------

    def _account_key(self) -> JWKEC:
        path = self._state_dir / ACCOUNT_KEY
        if not path.exists():
            write_private_file(path, _ec_key_pem())
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CertificateError(f"{path} is not an EC key", code="acme")
        return JWKEC(key=key)

    def _accounts(self) -> dict[str, str]:
        try:
            data = json.loads((self._state_dir / ACCOUNTS_FILE).read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _save_account(self, uri: str | None) -> None:
        accounts = self._accounts()
        if uri:
            accounts[self._directory_url] = uri
        else:
            accounts.pop(self._directory_url, None)
        write_private_file(self._state_dir / ACCOUNTS_FILE, (json.dumps(accounts, indent=2) + "\n").encode())

    def _forget_account(self) -> None:
        self._client = None
        self._save_account(None)

    def _connect(self, log: LogSink) -> ClientV2:
        if self._client is not None:
            return self._client
        net = ClientNetwork(
            self._account_key(),
            alg=ES256,
            verify_ssl=self._verify,  # type: ignore[arg-type]  # requests takes a CA bundle path too
            user_agent=f"dockyard/{__version__}",
            timeout=NETWORK_TIMEOUT,
        )
        client = ClientV2(ClientV2.get_directory(self._directory_url, net), net)
        uri = self._accounts().get(self._directory_url)
        if uri:
            net.account = messages.RegistrationResource(uri=uri, body=messages.Registration())
        else:
            registration = messages.NewRegistration.from_data(
                email=self._email or None, terms_of_service_agreed=True
            )
            try:
                uri = client.new_account(registration).uri
            except acme_errors.ConflictError as existing:  # the key is registered already
                uri = existing.location
            net.account = messages.RegistrationResource(uri=uri, body=messages.Registration())
            self._save_account(uri)
            log(f"registered ACME account {uri}")
        self._client = client
        return client

    # -- order --------------------------------------------------------------------------

    def _issue(self, domains: tuple[str, ...], log: LogSink) -> IssuedCertificate:
        client = self._connect(log)
        deadline = time.monotonic() + self._timeout
        key_pem = _ec_key_pem()
        order = client.new_order(crypto_util.make_csr(key_pem, list(domains)))
        log(f"ordered a certificate for {', '.join(domains)}")
        written: list[Path] = []
        try:
            for authzr in order.authorizations:
                self._answer(client, authzr, written)
            order = self._await_ready(client, order, deadline)
            log("challenges passed; finalizing")
            fullchain = self._finalize(client, order, deadline)
        finally:
            for path in written:
                path.unlink(missing_ok=True)
        info = certificate_info(fullchain)
        return IssuedCertificate(
            fullchain_pem=fullchain,
            key_pem=key_pem,
            domains=domains,
            serial=info.serial,
            not_before=info.not_before,
            not_after=info.not_after,
        )

    def _answer(self, client: ClientV2, authzr: messages.AuthorizationResource, written: list[Path]) -> None:
        """Publish the http-01 key authorization and tell the CA (unless already valid)."""
        if authzr.body.status == messages.STATUS_VALID:
            return
        domain = authzr.body.identifier.value
        for challb in authzr.body.challenges:
            if isinstance(challb.chall, challenges.HTTP01):
                break
        else:
            raise CertificateError(f"the CA offers no http-01 challenge for {domain}", code="unsupported")
        token = challb.chall.encode("token")
        if not _TOKEN_RE.fullmatch(token):
            raise CertificateError(f"the CA sent an unusable challenge token for {domain}", code="acme")
        response, validation = challb.response_and_validation(client.net.key)
        path = self.challenge_dir / token
        path.write_text(validation)
        path.chmod(PUBLIC_FILE_MODE)
        written.append(path)
        client.answer_challenge(challb, response)

    def _await_ready(
        self, client: ClientV2, order: messages.OrderResource, deadline: float
    ) -> messages.OrderResource:
        """Poll the order (one request per poll, however many names) until it is ready.

        Raises ChallengeFailed with each invalid authorization's error when it turns invalid.
        """
        for _ in _polls(deadline, late="the CA did not validate the challenges in time"):
            body = self._order_body(client, order)
            if body.status in (messages.STATUS_READY, messages.STATUS_VALID):
                ready: messages.OrderResource = order.update(body=body)
                return ready
            if body.status == messages.STATUS_INVALID:
                authzrs = [client.poll(authzr)[0] for authzr in order.authorizations]
                failed = [a for a in authzrs if a.body.status == messages.STATUS_INVALID]
                if failed:
                    raise ChallengeFailed(self._failures(failed))
                raise _refusal(body, "the order")
        raise AssertionError("unreachable: _polls raises at its deadline")

    def _order_body(self, client: ClientV2, order: messages.OrderResource) -> messages.Order:
        """The order as the CA has it now."""
        body: messages.Order = messages.Order.from_json(self._post_as_get(client, order.uri).json())
        return body

    def _finalize(self, client: ClientV2, order: messages.OrderResource, deadline: float) -> bytes:
        order = client.begin_finalization(order)
        for attempt in _polls(deadline, late="the CA did not issue the certificate in time"):
            if attempt:
                order = order.update(body=self._order_body(client, order))
            body = order.body
            if body.status == messages.STATUS_VALID and body.certificate:
                chain: str = self._post_as_get(client, body.certificate).text
                return chain.encode()
            if body.status == messages.STATUS_INVALID:
                raise _refusal(body, "to issue")
        raise AssertionError("unreachable: _polls raises at its deadline")

    @staticmethod
    def _post_as_get(client: ClientV2, url: str) -> Any:
        return client.net.post(url, None, new_nonce_url=client.directory["newNonce"])

    @staticmethod
    def _failures(authzrs: Sequence[messages.AuthorizationResource]) -> list[ChallengeFailure]:
        failures = []
        for authzr in authzrs:
            domain = authzr.body.identifier.value
            errors = [challb.error for challb in authzr.body.challenges if challb.error is not None]
            if errors:
                code, detail = _problem(errors[0])
            else:
                code, detail = "unauthorized", f"authorization is {authzr.body.status}"
            failures.append(ChallengeFailure(domain=domain, code=code, detail=detail))
        return failures
