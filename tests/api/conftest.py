"""The fast API tier: the real FastAPI app and real services, the outside world faked.

`wiring.build_services` builds the services over a real SqlStore on a temp SQLite file, real
deploy logs, certificate files and bare git repos under a temp data dir; Docker, nginx, the
health probes and the CA are the in-memory fakes of `fakes.py`, handed in as its `Adapters`.
The app starts through its lifespan (so the deploy workers, the reconciler and the webhook
dispatcher run), driven by TestClient: no server, no Docker, no sleeps.
"""

import hashlib
import io
import shutil
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from httpx import Response

from controller.adapters.cert_files import FileCertificateStore
from controller.adapters.logstore import FileDeployLogStore
from controller.adapters.passwords import Argon2Passwords
from controller.adapters.secrets import Cipher
from controller.adapters.store import SqlStore, upgrade_database
from controller.api.app import create_app
from controller.settings import Settings
from controller.wiring import Adapters, Services, build_services, prepare_data_dir
from tests.api.fakes import FakeIssuer, FakeProber, FakeProxy, FakeRuntime

# The API tier's admin token: not a secret, but as strong as the controller requires of one.
TOKEN = hashlib.sha256(b"dockyard api tier").hexdigest()
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NO_SUCH_USER = "dockyard-api-tier-nobody"  # the git user: must not exist, so nothing is chowned


@dataclass
class Bed:
    client: TestClient
    services: Services
    runtime: FakeRuntime
    proxy: FakeProxy
    prober: FakeProber
    issuer: FakeIssuer
    settings: Settings

    def get(self, url: str, **kwargs: Any) -> Response:
        response: Response = self.client.get(url, headers=AUTH, **kwargs)
        return response

    def post(self, url: str, **kwargs: Any) -> Response:
        response: Response = self.client.post(url, headers={**AUTH, **kwargs.pop("headers", {})}, **kwargs)
        return response

    def put(self, url: str, **kwargs: Any) -> Response:
        response: Response = self.client.put(url, headers=AUTH, **kwargs)
        return response

    def patch(self, url: str, **kwargs: Any) -> Response:
        response: Response = self.client.patch(url, headers=AUTH, **kwargs)
        return response

    def delete(self, url: str) -> Response:
        response: Response = self.client.delete(url, headers=AUTH)
        return response

    def create_app(self, name: str) -> dict[str, Any]:
        response = self.post("/api/v1/apps", json={"name": name})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def finished(self, deploy_id: str) -> dict[str, Any]:
        """The deploy once it ended: the followed log closes only then."""
        log = self.get(f"/api/v1/deploys/{deploy_id}/log", params={"follow": "true"})
        assert log.status_code == 200, log.text
        deploy: dict[str, Any] = self.get(f"/api/v1/deploys/{deploy_id}").json()
        deploy["log"] = log.text
        return deploy

    def deploy(self, app: str, files: dict[str, bytes] | None = None) -> dict[str, Any]:
        """Upload a build context (a Dockerfile by default) and wait for its deploy to end."""
        response = self.post(
            f"/api/v1/apps/{app}/deploys",
            content=tar_of(files or {"Dockerfile": b"FROM scratch\n"}),
            headers={"Content-Type": "application/gzip"},
        )
        assert response.status_code == 202, response.text
        return self.finished(response.json()["id"])


def tar_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test starts from a copy (migrating takes longer)."""
    path = tmp_path_factory.mktemp("api-db") / "template.sqlite"
    upgrade_database(f"sqlite:///{path}")
    return path


def build_test_services(
    settings: Settings, bed_fakes: tuple[FakeRuntime, FakeProxy, FakeProber, FakeIssuer]
) -> Services:
    """`wiring.build_services` with the fakes in place of Docker, nginx, probes and the CA."""
    runtime, proxy, prober, issuer = bed_fakes
    prepare_data_dir(settings)
    certs = FileCertificateStore(settings.certs_dir)
    certs.prepare()
    adapters = Adapters(
        store=SqlStore(settings.resolved_database_url, Cipher.from_key_file(settings.secret_key_file)),
        runtime=runtime,
        proxy=proxy,
        prober=prober,
        certs=certs,
        issuer=issuer,
        deploy_logs=FileDeployLogStore(settings.logs_dir / "deploys"),
        disk_used_percent=lambda: 10.0,
        passwords=Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)),  # fast
        traffic=proxy,
    )
    return build_services(settings, adapters)


def api_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "admin_token": TOKEN,
        "max_upload_mb": 1,
        "health_timeout": 5.0,
        "stop_timeout": 0.0,
        "reconcile_interval": 3600.0,
        "acme_email": "ops@example.com",
        "acme_check_interval": 3600.0,
        "git_user": NO_SUCH_USER,
        "git_authorized_keys": data_dir / "authorized_keys",
        "git_auto_create": False,
        "public_url": "http://testserver",
        "deploy_workers": 1,
        "job_workers": 2,
    }
    return Settings(**(values | overrides))


@pytest.fixture
def bed(tmp_path: Path, migrated_database: Path) -> Iterator[Bed]:
    with open_bed(tmp_path, migrated_database) as opened:
        yield opened


@contextmanager
def open_bed(tmp_path: Path, migrated_database: Path, **overrides: Any) -> Iterator[Bed]:
    """A started controller over the fakes, with `overrides` of the API tier's settings."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    settings = api_settings(data_dir, **overrides)
    shutil.copyfile(migrated_database, Path(settings.resolved_database_url.removeprefix("sqlite:///")))
    fakes = (FakeRuntime(), FakeProxy(), FakeProber(), FakeIssuer())
    services = build_test_services(settings, fakes)
    with TestClient(create_app(settings, services=services)) as client:
        yield Bed(client, services, *fakes, settings=settings)
