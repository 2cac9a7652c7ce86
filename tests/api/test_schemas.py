"""The JSON of every response body read from domain objects, byte for byte.

The expected strings (fixtures/response_bodies.json) are what the hand-written mappers the
schemas had before produced from these objects; the CLI and scripts parse this JSON.
"""

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import BaseModel

from controller.api.routes_certs import CertificatePublic
from controller.api.schemas import (
    AppDetailsPublic,
    AppPublic,
    ContainerPublic,
    CrashPublic,
    DeployPublic,
    ProcessesPublic,
    ReleasePublic,
)
from controller.api.schemas_git import DeliveryPublic, GitInfoPublic, KeyPublic
from controller.domain.certificates import CertificateInfo
from controller.domain.git_records import AppSource, DeliveryStatus, SshKey, WebhookDelivery
from controller.domain.models import (
    App,
    ContainerExit,
    ContainerInfo,
    Deploy,
    DeployKind,
    DeployStatus,
    HealthCheck,
    Release,
)
from controller.services.apps import AppDetails
from controller.services.git_sources import GitInfo

AT = datetime(2026, 12, 2, 1, 2, 3, 456789, tzinfo=UTC)
LATER = datetime(2026, 12, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
APP = App("web", AT, ("b.example.com", "a.example.com"), 2, 7)
BARE_APP = App("bare", AT)
CONTAINER = ContainerInfo(
    "0123456789abcdef0123",
    "dockyard-web-7-web-1",
    "web",
    7,
    "web",
    "172.18.0.5:5000",
    "running",
    "healthy",
    3,
    None,
    LATER,
)
STOPPED = ContainerInfo(
    "fedcba9876543210", "dockyard-web-6-web-1", "web", 6, "web", None, "exited", exit_code=137
)
CRASH = ContainerExit("web", 7, "web", "dockyard-web-7-web-1", 1, LATER, True)
RELEASE = Release(
    "web",
    7,
    "sha256:" + "ab" * 32,
    "d" * 64,
    {"Z": "1", "A": "2", "M": "3"},
    5000,
    (HealthCheck(), HealthCheck(path="/ready")),
    AT,
    "0123abcd",
    "git push 0123abcd",
)
DEPLOY = Deploy(
    "0123abcd", "web", DeployKind.BUILD, DeployStatus.SUCCEEDED, AT, AT, LATER, 7, None, "deploy", 2
)
FAILED = Deploy("0123abce", "web", DeployKind.CONFIG, DeployStatus.FAILED, AT, error="boom")
DETAILS = AppDetails(APP, RELEASE, (CONTAINER, STOPPED), ("https://a.example.com",), "degraded", (CRASH,))
BARE_DETAILS = AppDetails(BARE_APP, None, (), (), "not-deployed")
KEY = SshKey("laptop", "ssh-ed25519", "AAAA", "SHA256:abc", AT)
DELIVERY = WebhookDelivery("web", "github", "d-1", "main", "c" * 40, AT, DeliveryStatus.QUEUED, 4, "0123abcd")
FAILED_DELIVERY = WebhookDelivery(
    "web", "gitlab", "d-2", "main", "e" * 40, LATER, DeliveryStatus.FAILED, error="no"
)
INFO = GitInfo(
    AppSource("web", "s3cret", "main", "https://git.example.com/a.git", "u", "tok", "KEY"),
    "ssh://git@h:22/web",
    "https://h/git/web",
    {"github": "https://h/hooks/web/github"},
    (DELIVERY, FAILED_DELIVERY),
)
BARE_INFO = GitInfo(AppSource("bare", "s"), "ssh://git@h:22/bare", "https://h/git/bare", {}, ())


CERTIFICATE = CertificateInfo(("a.example.com", "b.example.com"), "0abc", AT, LATER)

BODIES: dict[str, tuple[type[BaseModel], object]] = {
    "app": (AppPublic, APP),
    "bare_app": (AppPublic, BARE_APP),
    "container": (ContainerPublic, CONTAINER),
    "stopped": (ContainerPublic, STOPPED),
    "crash": (CrashPublic, CRASH),
    "details": (AppDetailsPublic, DETAILS),
    "bare_details": (AppDetailsPublic, BARE_DETAILS),
    "processes": (ProcessesPublic, DETAILS),
    "deploy": (DeployPublic, DEPLOY),
    "failed": (DeployPublic, FAILED),
    "key": (KeyPublic, KEY),
    "delivery": (DeliveryPublic, DELIVERY),
    "info": (GitInfoPublic, INFO),
    "bare_info": (GitInfoPublic, BARE_INFO),
    "certificate": (CertificatePublic, CERTIFICATE),
}

EXPECTED: dict[str, str] = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "response_bodies.json").read_text()
)


@pytest.mark.parametrize("name", sorted(BODIES))
def test_body_json(name: str) -> None:
    schema, source = BODIES[name]
    assert schema.model_validate(source).model_dump_json() == EXPECTED[name]


def test_release_json() -> None:
    assert ReleasePublic.of(RELEASE).model_dump_json() == EXPECTED["release"]
    current = ReleasePublic.of(RELEASE, current=7, image_available=False)
    assert current.model_dump_json() == EXPECTED["release_current"]
