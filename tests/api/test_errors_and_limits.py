"""Domain errors map to HTTP statuses in one place; bodies over their limits are refused."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.api.errors import HTTP_STATUS
from controller.api.follow import FollowersExhausted, TooManyFollowers
from controller.domain import errors
from controller.domain.certificates import AcmeNotConfigured, AttemptsExhausted, CertificateError
from controller.domain.git_refs import SourceUnavailable
from controller.domain.webhooks import WebhookUnauthorized
from controller.services.git_push import PushForbidden
from tests.api.conftest import AUTH, Bed, tar_of


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.InvalidInput, 400),
        (errors.NotFound, 404),
        (errors.Conflict, 409),
        (errors.PayloadTooLarge, 413),
        (errors.RuntimeUnavailable, 503),
        (errors.BuildFailed, 500),
        (errors.ProxyConfigRejected, 500),
        (errors.DockyardError, 500),
        (PushForbidden, 403),
        (WebhookUnauthorized, 401),
        (CertificateError, 502),
        (SourceUnavailable, 502),
        (AttemptsExhausted, 429),
        (AcmeNotConfigured, 409),
        (TooManyFollowers, 429),
        (FollowersExhausted, 503),
    ],
)
def test_each_domain_error_has_its_status_and_message(
    bed: Bed, monkeypatch: pytest.MonkeyPatch, error: type[errors.DockyardError], status: int
) -> None:
    def fail() -> None:
        raise error("the reason, for the user")

    monkeypatch.setattr(bed.services.apps, "all", fail)
    response = bed.get("/api/v1/apps")
    assert response.status_code == status
    assert response.json() == {"detail": "the reason, for the user"}


def test_every_error_kind_has_one_http_status() -> None:
    assert set(HTTP_STATUS) == set(errors.ErrorKind)


def test_the_layers_below_the_api_carry_kinds_not_http_statuses() -> None:
    below = [Path(errors.__file__).parent, Path(errors.__file__).parent.parent / "services"]
    offenders = [
        str(path)
        for directory in below
        for path in directory.rglob("*.py")
        if "status_code" in path.read_text()
    ]
    assert offenders == []


def test_bad_json_is_a_422(bed: Bed) -> None:
    for body in (b"{", b"\xff\xfe", b'{"name": "web"', b"null"):
        response = bed.post("/api/v1/apps", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, (body, response.text)
    assert bed.get("/api/v1/apps").json() == []


def test_a_json_body_over_one_mib_is_a_413_before_it_is_read(bed: Bed) -> None:
    big = b'{"name": "' + b"a" * (1024 * 1024) + b'"}'
    response = bed.post("/api/v1/apps", content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    bogus = bed.post("/api/v1/apps", content=b"{}", headers={"Content-Length": "12abc"})
    assert bogus.status_code in (400, 413)


def test_a_chunked_json_body_needs_a_length(bed: Bed) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "web"}'

    response = bed.post("/api/v1/apps", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 411
    assert bed.get("/api/v1/apps").json() == []


def test_uploads_over_the_limit_are_413_by_length_and_while_streaming(bed: Bed) -> None:
    bed.create_app("web")
    limit = bed.settings.max_upload_mb * 1024 * 1024
    by_length = bed.post("/api/v1/apps/web/deploys", content=b"x" * (limit + 1))
    assert by_length.status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(limit // 65536 + 2):
            yield b"\0" * 65536

    streamed = bed.client.post("/api/v1/apps/web/deploys", content=chunks(), headers=AUTH)
    assert streamed.status_code == 413
    assert bed.get("/api/v1/apps/web/deploys").json() == []
    small = bed.post("/api/v1/apps/web/deploys", content=tar_of({"Dockerfile": b"FROM scratch\n"}))
    assert small.status_code == 202


def test_a_webhook_body_over_its_limit_is_a_413(bed: Bed) -> None:
    bed.create_app("web")
    response = bed.client.post("/hooks/github/web", content=b"x" * (1024 * 1024 + 1))
    assert response.status_code == 413
