"""The ACME adapter against a real Pebble, with a plain HTTP server answering from the webroot."""

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.adapters.acme_issuer import AcmeIssuer
from controller.domain.certificates import CertificateError, ChallengeFailed
from tests.e2e.pebble import Pebble, free_port, pebble_installed, start_pebble

pytestmark = pytest.mark.integration


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def webroot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("webroot")


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory, webroot: Path) -> Iterator[Pebble]:
    if not pebble_installed():
        pytest.fail("pebble is not installed: run scripts/setup-acme-testbed.sh")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", free_port()), functools.partial(_Quiet, directory=str(webroot))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ca = start_pebble(tmp_path_factory.mktemp("pebble"), http_port=server.server_address[1])
    try:
        yield ca
    finally:
        ca.stop()
        server.shutdown()
        server.server_close()


def make_issuer(pebble: Pebble, state_dir: Path, webroot: Path) -> AcmeIssuer:
    issuer = AcmeIssuer(
        directory_url=pebble.directory_url,
        email="ops@example.com",
        state_dir=state_dir,
        webroot=webroot,
        ca_bundle=pebble.ca_bundle,
    )
    issuer.prepare()
    return issuer


def test_issues_one_certificate_for_several_names_and_keeps_its_account(
    pebble: Pebble, webroot: Path, tmp_path: Path
) -> None:
    lines: list[str] = []
    issued = make_issuer(pebble, tmp_path, webroot).issue(
        ["a.example.com", "b.example.com"], log=lines.append
    )

    assert issued.domains == ("a.example.com", "b.example.com")
    assert issued.fullchain_pem.count(b"BEGIN CERTIFICATE") >= 2
    assert b"PRIVATE KEY" in issued.key_pem
    assert issued.not_after > issued.not_before
    assert (tmp_path / "account.key").stat().st_mode & 0o777 == 0o600
    assert any(line.startswith("registered ACME account") for line in lines)
    assert not list((webroot / ".well-known" / "acme-challenge").iterdir()), "tokens are removed afterwards"

    again: list[str] = []
    second = make_issuer(pebble, tmp_path, webroot).issue(["a.example.com"], log=again.append)
    assert second.serial != issued.serial
    assert not any("registered" in line for line in again), "a restarted controller reuses its account"


def test_a_failed_challenge_carries_the_cas_code_and_detail(
    pebble: Pebble, webroot: Path, tmp_path: Path
) -> None:
    pebble.resolve("refused.example.com", "127.0.0.2")

    with pytest.raises(ChallengeFailed) as raised:
        make_issuer(pebble, tmp_path, webroot).issue(["ok.example.com", "refused.example.com"], log=print)

    (failure,) = raised.value.failures
    assert failure.domain == "refused.example.com"
    assert failure.code == "connection"
    assert "connection refused" in failure.detail


def test_an_unreachable_ca_is_a_clear_error(webroot: Path, tmp_path: Path) -> None:
    issuer = AcmeIssuer(
        directory_url=f"https://127.0.0.1:{free_port()}/dir", email=None, state_dir=tmp_path, webroot=webroot
    )

    with pytest.raises(CertificateError, match="cannot reach the CA") as raised:
        issuer.issue(["a.example.com"], log=print)
    assert raised.value.code == "caUnreachable"


@pytest.mark.parametrize(
    "domain", ["a.com;include /etc/shadow", "*.example.com", "localhost", "A.example.com"]
)
def test_a_hostile_name_is_refused_before_any_request(domain: str, webroot: Path, tmp_path: Path) -> None:
    issuer = AcmeIssuer(
        directory_url="https://127.0.0.1:1/dir", email=None, state_dir=tmp_path, webroot=webroot
    )

    with pytest.raises(CertificateError, match="refusing"):
        issuer.issue([domain], log=print)
