"""In-memory stand-ins for the outside world of the services: Docker, nginx, HTTP probes, the CA.

Each is checked against its port by mypy (see the `_checked` assignments at the bottom), so a
changed Protocol breaks the fake at type-check time, not in a confusing test failure.
"""

import hashlib
import itertools
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from controller.domain.certificates import IssuedCertificate
from controller.domain.containers import LABEL_APP, LABEL_PROCESS, LABEL_RELEASE, ContainerSpec
from controller.domain.errors import BuildFailed, NotFound, ProxyConfigRejected, RuntimeUnavailable
from controller.domain.models import ContainerExit, ContainerInfo, Site
from controller.services.certificate_ports import CertificateIssuer
from controller.services.ports import (
    BuiltImage,
    ContainerUsage,
    LogSink,
    Prober,
    Proxy,
    Runtime,
    Traffic,
    TrafficMeter,
)

FAIL_BUILD = "FAIL_BUILD"  # a build context holding this file fails its build


class FakeLogLines:
    """Container output that is all there at once and then ends."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = list(lines)
        self.on_ready: Callable[[], None] = lambda: None

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if not self._lines:
            raise StopIteration
        return self._lines.pop(0)

    def take(self, limit: int) -> tuple[list[str], bool]:
        batch, self._lines = self._lines[:limit], self._lines[limit:]
        return batch, not self._lines

    def close(self, *, wait: bool = True) -> None:
        self._lines = []


class FakeRuntime:
    """Docker as a dict: builds succeed at once, containers run at 10.0.0.N, nothing dies."""

    def __init__(self) -> None:
        self.down = False
        self.images: dict[str, set[str]] = {}  # app -> image ids
        self.containers: dict[str, ContainerInfo] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def _up(self) -> None:
        if self.down:
            raise RuntimeUnavailable("Docker is not reachable (fake)")

    def ping(self) -> None:
        self._up()

    def build_image(
        self,
        *,
        context_dir: Path,
        tag: str,
        labels: dict[str, str],
        on_log: LogSink,
        timeout: float,
        cancel: threading.Event | None = None,
    ) -> BuiltImage:
        self._up()
        on_log(f"Step 1/1 : building {tag}")
        if (context_dir / FAIL_BUILD).exists():
            raise BuildFailed("the Dockerfile's RUN step failed (fake)")
        image_id = "sha256:" + hashlib.sha256(tag.encode()).hexdigest()
        with self._lock:
            self.images.setdefault(labels[LABEL_APP], set()).add(image_id)
        return BuiltImage(id=image_id, exposed_ports=(8080,))

    def image_exposed_ports(self, image_id: str) -> tuple[int, ...]:
        self._up()
        if not any(image_id in ids for ids in self.images.values()):
            raise NotFound(f"no image {image_id}")
        return (8080,)

    def present_images(self, app: str, image_ids: Collection[str]) -> set[str]:
        self._up()
        return set(image_ids) & self.images.get(app, set())

    def run_container(self, spec: ContainerSpec) -> ContainerInfo:
        self._up()
        number = next(self._ids)
        info = ContainerInfo(
            id=f"c{number:04d}",
            name=spec.name,
            app=spec.labels[LABEL_APP],
            release=int(spec.labels[LABEL_RELEASE]),
            process=spec.labels[LABEL_PROCESS],
            address=f"10.0.0.{number % 250 + 2}",
            state="running",
        )
        with self._lock:
            self.containers[info.id] = info
        return info

    def inspect_container(self, container_id: str) -> ContainerInfo:
        self._up()
        try:
            return self.containers[container_id]
        except KeyError:
            raise NotFound(f"no container {container_id}") from None

    def container_logs(self, container_id: str, *, tail: int = 50) -> str:
        return ""

    def follow_logs(
        self, container_ids: Sequence[str], *, tail: int, follow: bool, timestamps: bool = False
    ) -> "FakeLogLines":
        self._up()
        names = [(self.containers[container_id].name, container_id) for container_id in container_ids]
        return FakeLogLines([f"{name} | hello from {container_id}" for name, container_id in names])

    def listening_ports(self, container_id: str) -> list[tuple[str, int]]:
        self._up()
        return [("0.0.0.0", 8080)]

    def remove_container(self, container_id: str, *, stop_timeout: float = 10) -> None:
        self._up()
        with self._lock:
            self.containers.pop(container_id, None)

    def container_usage(self, container_id: str) -> ContainerUsage:
        self.inspect_container(container_id)
        return ContainerUsage(cpu_percent=12.5, memory_used=8 * 2**20, memory_limit=512 * 2**20)

    def list_containers(self, app: str | None = None) -> list[ContainerInfo]:
        self._up()
        with self._lock:
            return [c for c in self.containers.values() if app is None or c.app == app]

    def prune_images(self, app: str, keep_image_ids: set[str]) -> list[str]:
        self._up()
        with self._lock:
            gone = sorted(self.images.get(app, set()) - keep_image_ids)
            self.images[app] = self.images.get(app, set()) & keep_image_ids
        return gone

    def prune_foreign_app_images(self, apps: set[str]) -> list[str]:
        self._up()
        with self._lock:
            foreign = [app for app in self.images if app not in apps]
            return sorted(image for app in foreign for image in self.images.pop(app))

    def prune_build_layers(self) -> list[str]:
        self._up()
        return []

    def disk_usage(self) -> dict[str, int]:
        self._up()
        images = sum(len(ids) for ids in self.images.values())
        return {
            "images": images,
            "image_bytes": images * 1000,
            "containers": len(self.containers),
            "container_bytes": 0,
        }

    def watch_deaths(
        self,
        on_death: Callable[[ContainerExit], None],
        stop: threading.Event,
        *,
        on_start: Callable[[str], None] | None = None,
    ) -> None:
        stop.wait()


class FakeProxy:
    """nginx as the list of sites it was last given; `refuse` makes the next applies fail.

    Also the meter of its access logs: `requests` holds each app's (requests, 5xx) of the window.
    """

    def access_log(self, app: str, *, tail: int, follow: bool) -> Iterator[str]:
        return iter(())

    def __init__(self) -> None:
        self.sites: list[Site] | None = None
        self.refuse: str | None = None
        self.applies = 0
        self.requests: dict[str, tuple[int, int]] = {}

    def traffic(self, app: str) -> Traffic:
        requests, errors = self.requests.get(app, (0, 0))
        return Traffic(requests=requests, errors=errors, window=60.0)

    def ensure_running(self, sites: Sequence[Site] | None) -> None:
        if sites is not None:
            self.sites = list(sites)

    def apply(self, sites: Sequence[Site]) -> None:
        if self.refuse:
            raise ProxyConfigRejected(self.refuse)
        self.sites = list(sites)
        self.applies += 1

    def is_current(self, sites: Sequence[Site]) -> bool:
        return self.sites == list(sites)

    def stop(self) -> None:
        self.sites = None


class FakeProber:
    """Every container answers its health check with `status`."""

    def __init__(self) -> None:
        self.status = 200

    def http_status(self, url: str, *, timeout: float) -> int:
        return self.status


class FakeIssuer:
    """A CA that signs at once with its own key: real PEM, so the certificate files parse."""

    def __init__(self) -> None:
        self.orders: list[tuple[str, ...]] = []

    def issue(self, domains: Sequence[str], *, log: LogSink) -> IssuedCertificate:
        names = tuple(domains)
        self.orders.append(names)
        log(f"ordering a certificate for {', '.join(names)} (fake CA)")
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC).replace(microsecond=0)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(key, hashes.SHA256())
        )
        return IssuedCertificate(
            fullchain_pem=certificate.public_bytes(serialization.Encoding.PEM),
            key_pem=key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            domains=names,
            serial=f"{certificate.serial_number:x}",
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
        )


def _checked() -> tuple[Runtime, Proxy, TrafficMeter, Prober, CertificateIssuer]:
    """mypy: each fake implements its port (never called)."""
    return FakeRuntime(), FakeProxy(), FakeProxy(), FakeProber(), FakeIssuer()
