"""Certificate files under the data dir: modes, atomic swap with undo, and what survives a restart."""

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from controller.adapters.cert_files import FileCertificateStore
from controller.domain.certificates import CertificateState, DomainStatus
from controller.domain.errors import InvalidInput


def self_signed(*domains: str, days: int = 90) -> tuple[bytes, bytes, int]:
    """(chain PEM, key PEM, serial) of a throwaway certificate for `domains`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domains[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in domains]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem, cert.serial_number


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "certs"


@pytest.fixture
def store(root: Path) -> FileCertificateStore:
    certs = FileCertificateStore(root)
    certs.prepare()
    return certs


def test_install_writes_private_files_and_the_state_reads_the_pem(
    store: FileCertificateStore, root: Path
) -> None:
    chain, key, serial = self_signed("a.example.com", "b.example.com")

    store.install("web", chain, key)

    assert root.stat().st_mode & 0o777 == 0o700
    for name in ("fullchain.pem", "privkey.pem"):
        assert (root / "web" / name).stat().st_mode & 0o777 == 0o600
    assert (root / "web" / "privkey.pem").read_bytes() == key
    info = store.load("web").certificate
    assert info is not None
    assert info.domains == ("a.example.com", "b.example.com")
    assert info.serial == format(serial, "x")
    assert store.paths("web") == (str(root / "web" / "fullchain.pem"), str(root / "web" / "privkey.pem"))


def test_undo_puts_the_previous_pair_back(store: FileCertificateStore, root: Path) -> None:
    first_chain, first_key, first_serial = self_signed("a.example.com")
    store.install("web", first_chain, first_key)
    undo = store.install("web", *self_signed("a.example.com")[:2])

    undo()

    assert (root / "web" / "fullchain.pem").read_bytes() == first_chain
    assert (root / "web" / "privkey.pem").read_bytes() == first_key
    info = store.load("web").certificate
    assert info is not None and info.serial == format(first_serial, "x")
    assert not list((root / "web").glob("*.new"))


def test_undo_of_a_first_install_leaves_no_certificate(store: FileCertificateStore, root: Path) -> None:
    store.save(CertificateState(app="web"))
    undo = store.install("web", *self_signed("a.example.com")[:2])

    undo()

    assert store.load("web").certificate is None
    assert not (root / "web" / "fullchain.pem").exists()


def test_a_new_process_reads_the_same_state(store: FileCertificateStore, root: Path) -> None:
    chain, key, _ = self_signed("a.example.com")
    store.install("web", chain, key)
    state = store.load("web")
    saved = CertificateState(
        app="web",
        certificate=state.certificate,
        domains={"a.example.com": DomainStatus(failures=2, last_error="timeout")},
        https_redirect=False,
    )
    store.save(saved)

    assert FileCertificateStore(root).load("web") == saved


def test_a_missing_key_means_no_certificate(store: FileCertificateStore, root: Path) -> None:
    store.install("web", *self_signed("a.example.com")[:2])
    (root / "web" / "privkey.pem").unlink()

    assert FileCertificateStore(root).load("web").certificate is None


def test_remove_and_the_bounded_log(store: FileCertificateStore, root: Path) -> None:
    for n in range(510):
        store.append_log("web", f"line {n}\nwith a newline")
    lines = store.read_log("web", 1000)
    assert len(lines) == 500 and lines[-1] == "line 509 with a newline"
    assert store.read_log("web", 2) == lines[-2:]

    store.remove("web")
    assert not (root / "web").exists()
    assert store.read_log("web", 5) == []


@pytest.mark.parametrize("app", ["../etc", "a/b", "", "Web"])
def test_an_unsafe_app_name_never_becomes_a_path(store: FileCertificateStore, app: str) -> None:
    with pytest.raises(InvalidInput):
        store.load(app)
