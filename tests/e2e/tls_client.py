"""HTTPS to the local nginx with a chosen SNI name, verified against a given root; and a load client."""

import http.client
import socket
import ssl
import time
from collections import Counter

from cryptography import x509

from tests.e2e.load import BackgroundLoad

CLOSED_BEFORE_ANSWER = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def verifying_context(root_pem: bytes) -> ssl.SSLContext:
    """Trusts only `root_pem` (Pebble's issuing root) and checks the host name."""
    context = ssl.create_default_context(cadata=root_pem.decode())
    context.check_hostname = True
    return context


class LoopbackHTTPSConnection(http.client.HTTPSConnection):
    """Connects to 127.0.0.1 but sends SNI and Host for `host`, verifying its certificate."""

    def __init__(self, host: str, port: int, *, context: ssl.SSLContext, timeout: float = 10) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._tls_context = context

    def connect(self) -> None:
        raw = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        tls = self._tls_context.wrap_socket(raw, server_hostname=self.host)
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        self.sock = tls
        self.peer_serial = format(x509.load_der_x509_certificate(der).serial_number, "x")

    def serial(self) -> str:
        """The serial (hex) of the certificate the server presented on the last connection."""
        return self.peer_serial


def https_get(host: str, port: int, root_pem: bytes, path: str = "/") -> tuple[int, str, str]:
    """One GET on a new connection: (status, body, serial of the served certificate)."""
    conn = LoopbackHTTPSConnection(host, port, context=verifying_context(root_pem))
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        body = response.read().decode(errors="replace")
        return response.status, body, conn.serial()
    finally:
        conn.close()


class HttpsLoad(BackgroundLoad):
    """Keep-alive HTTPS GETs from one thread until stopped, counting every outcome.

    A request that fails on a REUSED connection before any answer (nginx closed the idle
    connection as its old worker exited after a reload) is retried once on a new
    connection, as tests/e2e/load.py and browsers do. Everything else counts as a failure.
    """

    def __init__(self, host: str, port: int, root_pem: bytes, *, max_seconds: float = 120) -> None:
        super().__init__(max_seconds=max_seconds)
        self._host = host
        self._port = port
        self._context = verifying_context(root_pem)
        self.serials: Counter[str] = Counter()  # per new connection

    def _connection(self) -> LoopbackHTTPSConnection:
        return LoopbackHTTPSConnection(self._host, self._port, context=self._context)

    def _once(self, conn: LoopbackHTTPSConnection) -> int:
        fresh = conn.sock is None
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        if fresh:
            self.serials[conn.serial()] += 1
        return response.status

    def _run(self) -> None:
        deadline = time.monotonic() + self._max_seconds
        conn = self._connection()
        while not self._stop.is_set() and time.monotonic() < deadline:
            reused = conn.sock is not None
            try:
                try:
                    status = self._once(conn)
                except CLOSED_BEFORE_ANSWER:
                    conn.close()
                    if not reused:
                        raise
                    self.retries += 1
                    conn = self._connection()
                    status = self._once(conn)
            except (OSError, http.client.HTTPException) as exc:
                self.errors.append(repr(exc))
                conn.close()
                conn = self._connection()
                continue
            self.statuses[status] += 1
        conn.close()
