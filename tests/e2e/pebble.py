"""Pebble (Let's Encrypt's test CA) and pebble-challtestsrv (its DNS) on free loopback ports.

Installed by scripts/setup-acme-testbed.sh (Debian package `pebble`). Each `start_pebble`
gets its own directory, CA and ports; Pebble validates http-01 on `http_port`, the
controller's nginx. Every name resolves to 127.0.0.1 unless `resolve` says otherwise.
"""

import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

START_TIMEOUT = 20.0


def pebble_installed() -> bool:
    return bool(shutil.which("pebble") and shutil.which("pebble-challtestsrv"))


def free_tcp_udp_port() -> int:
    """A loopback port free for both TCP and UDP (the DNS server binds both)."""
    for _ in range(50):
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free TCP+UDP loopback port")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def make_local_ca(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a localhost/127.0.0.1 certificate it signed, for Pebble's own HTTPS.

    Returns (ca.pem, cert.pem, key.pem).
    """
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dockyard test CA for pebble")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key_path, key)
    return ca_path, cert_path, key_path


def _accepts(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def _wait(predicate: Callable[[], bool], what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, httpx.HTTPError):
            if predicate():
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not come up: {log.read_text()[-2000:]}")


@dataclass
class Pebble:
    """A running Pebble + challtestsrv pair and the means to steer them."""

    directory: Path
    http_port: int
    acme_port: int = field(default_factory=free_port)
    management_port: int = field(default_factory=free_port)
    dns_port: int = field(default_factory=free_tcp_udp_port)
    dns_management_port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def directory_url(self) -> str:
        return f"https://127.0.0.1:{self.acme_port}/dir"

    @property
    def ca_bundle(self) -> Path:
        """The CA that signed Pebble's own HTTPS certificate (DOCKYARD_ACME_CA_BUNDLE)."""
        return self.directory / "ca.pem"

    def _trust(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_bundle))

    def issuing_root(self) -> bytes:
        """The root Pebble signs certificates with (new at every start)."""
        response = httpx.get(
            f"https://127.0.0.1:{self.management_port}/roots/0", verify=self._trust(), timeout=10
        )
        response.raise_for_status()
        return response.content

    def resolve(self, host: str, address: str) -> None:
        """Make challtestsrv answer A queries for `host` with `address`."""
        response = httpx.post(
            f"http://127.0.0.1:{self.dns_management_port}/add-a",
            json={"host": host, "addresses": [address]},
            timeout=10,
        )
        response.raise_for_status()

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        _, cert, key = make_local_ca(self.directory)
        config = self.directory / "pebble-config.json"
        config.write_text(
            json.dumps(
                {
                    "pebble": {
                        "listenAddress": f"127.0.0.1:{self.acme_port}",
                        "managementListenAddress": f"127.0.0.1:{self.management_port}",
                        "certificate": str(cert),
                        "privateKey": str(key),
                        "httpPort": self.http_port,
                        "tlsPort": free_port(),  # tls-alpn-01 is never used
                        "ocspResponderURL": "",
                        "externalAccountBindingRequired": False,
                    }
                }
            )
        )
        dns_log = self.directory / "challtestsrv.log"
        self.processes.append(
            subprocess.Popen(
                [
                    "pebble-challtestsrv",
                    "-dns01", f"127.0.0.1:{self.dns_port}",
                    "-management", f"127.0.0.1:{self.dns_management_port}",
                    "-defaultIPv4", "127.0.0.1",
                    "-defaultIPv6", "",
                    "-http01", "",
                    "-https01", "",
                    "-tlsalpn01", "",
                ],
                stdout=dns_log.open("ab"),
                stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
        _wait(lambda: _accepts(self.dns_management_port), "pebble-challtestsrv", dns_log)
        log = self.directory / "pebble.log"
        env = {
            **os.environ,
            "PEBBLE_VA_NOSLEEP": "1",
            "PEBBLE_WFE_NONCEREJECT": "0",
            "PEBBLE_AUTHZREUSE": "0",
        }
        self.processes.append(
            subprocess.Popen(
                ["pebble", "-config", str(config), "-dnsserver", f"127.0.0.1:{self.dns_port}"],
                env=env,
                stdout=log.open("ab"),
                stderr=subprocess.STDOUT,
            )
        )
        _wait(
            lambda: httpx.get(self.directory_url, verify=self._trust(), timeout=1).status_code == 200,
            "pebble",
            log,
        )

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
        self.processes.clear()


def start_pebble(directory: Path, *, http_port: int) -> Pebble:
    """Start Pebble validating http-01 on 127.0.0.1:`http_port`; the caller must `stop()` it."""
    pebble = Pebble(directory=directory, http_port=http_port)
    try:
        pebble.start()
    except BaseException:
        pebble.stop()
        raise
    return pebble
