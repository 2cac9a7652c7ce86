"""Webhook signatures and payload parsing, against the providers' real payloads (tests/fixtures)."""

import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import quote_plus

import pytest

from controller.domain.errors import InvalidInput, NotFound
from controller.domain.webhooks import (
    EventKind,
    Provider,
    WebhookUnauthorized,
    decide,
    parse_event,
    parse_provider,
    signed_document,
    verify_signature,
)

PAYLOADS = Path(__file__).parents[1] / "fixtures" / "webhook_payloads"
SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def hex_hmac(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_headers(provider: Provider, body: bytes, event: str, secret: str = SECRET) -> dict[str, str]:
    """Headers as each provider sends them (names lowercased, as the API hands them on)."""
    if provider is Provider.GITHUB:
        return {
            "x-github-event": event,
            "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            "x-hub-signature-256": "sha256=" + hex_hmac(body, secret),
            "x-hub-signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest(),
            "content-type": "application/json",
        }
    if provider is Provider.GITLAB:
        return {"x-gitlab-event": event, "x-gitlab-token": secret, "x-gitlab-event-uuid": "13792a34-cac6"}
    if provider is Provider.GITEA:
        return {
            "x-gitea-event": event,
            "x-gitea-delivery": "f6266f16-1bf3-46a5-9ea4-602e06ead473",
            "x-gitea-signature": hex_hmac(body, secret),
            "x-hub-signature-256": "sha256=" + hex_hmac(body, secret),
        }
    return {
        "x-event-key": event,
        "x-request-uuid": "fb4a2a10-4a92-4a4a-9c3b-2b6a0b0a2c3e",
        "x-hub-signature": "sha256=" + hex_hmac(body, secret),
    }


def verified_event(provider: Provider, name: str, event: str):  # type: ignore[no-untyped-def]
    body = payload(name)
    headers = signed_headers(provider, body, event)
    signed, document = signed_document(provider, headers, body)
    verify_signature(provider, headers, signed, SECRET)
    return parse_event(provider, headers, document)


@pytest.mark.parametrize(
    ("provider", "name", "event", "branch", "commit"),
    [
        (Provider.GITHUB, "github/push.json", "push", "master", "199eddf46df50de8d02e99bf1c5fdb4101338224"),
        (
            Provider.GITHUB,
            "github/push-new-branch.json",
            "push",
            "master",
            "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        ),
        (
            Provider.GITHUB,
            "github/push-forced.json",
            "push",
            "main",
            "f7220f1f753260bf6f1c533357c70213e9fd4abe",
        ),
        (
            Provider.GITLAB,
            "gitlab/push.json",
            "Push Hook",
            "master",
            "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        ),
        (
            Provider.GITLAB,
            "gitlab/push-gitlab-com.json",
            "Push Hook",
            "master",
            "2adc9465c4edfc33834e173fe89436a7cb899a1d",
        ),
        (
            Provider.GITLAB,
            "gitlab/push-branch-create.json",
            "Push Hook",
            "feature",
            "c4c79227ed610f1151f05bbc5be33b4f340d39c8",
        ),
        (Provider.GITEA, "gitea/push.json", "push", "main", "29be01c073851cf0db0c6a466e396b725a670453"),
        (
            Provider.GITEA,
            "gitea/push-initial.json",
            "push",
            "master",
            "67b56589a45103f891bdee7c0546e5d40bc02001",
        ),
        (
            Provider.GITEA,
            "gitea/push-legacy.json",
            "push",
            "master",
            "4522cbcefc20728a5b72b3a86af35e608622c514",
        ),
        (
            Provider.GITEA,
            "gitea/push-new-branch.json",
            "push",
            "fdsafdsa",
            "28c3613ae62640216bea5e7dc71aa65356e4298b",
        ),
        (
            Provider.GITEA,
            "gitea/push-docs-example.json",
            "push",
            "develop",
            "bffeb74224043ba2feb48d137756c8a9331c449a",
        ),
        (
            Provider.BITBUCKET,
            "bitbucket/push.json",
            "repo:push",
            "master",
            "141977fedf5cf35aa290ac87d4b5177ac4cd9de1",
        ),
        (
            Provider.BITBUCKET,
            "bitbucket/push-branch-create.json",
            "repo:push",
            "develop",
            "141977fedf5cf35aa290ac87d4b5177ac4cd9de1",
        ),
    ],
)
def test_pushes_to_the_app_branch_deploy_exactly_the_pushed_commit(
    provider: Provider, name: str, event: str, branch: str, commit: str
) -> None:
    parsed = verified_event(provider, name, event)
    assert parsed.kind is EventKind.PUSH
    assert decide(parsed, branch).commit == commit
    other = decide(parsed, "some-other-branch")
    assert other.commit is None and f"branch {branch}" in other.reason


@pytest.mark.parametrize(
    ("provider", "name", "event", "branch", "reason"),
    [
        (Provider.GITHUB, "github/push-branch-delete.json", "push", "feature-branch", "deleted"),
        (Provider.GITHUB, "github/push-tag.json", "push", "main", "tag v0.0.1"),
        (Provider.GITHUB, "github/push-tag-delete.json", "push", "main", "tag simple-tag (deleted)"),
        (Provider.GITLAB, "gitlab/push-branch-delete.json", "Push Hook", "feature", "deleted"),
        (Provider.GITLAB, "gitlab/tag-push.json", "Tag Push Hook", "master", "tag v1.0.0"),
        (Provider.GITLAB, "gitlab/tag-push-annotated.json", "Tag Push Hook", "master", "tag v22"),
        (Provider.GITLAB, "gitlab/tag-push-delete.json", "Tag Push Hook", "master", "(deleted)"),
        (Provider.GITEA, "gitea/delete-branch.json", "delete", "feature", "not a push"),
        (Provider.GITEA, "gitea/create-tag.json", "create", "main", "not a push"),
        (Provider.BITBUCKET, "bitbucket/push-branch-delete.json", "repo:push", "develop", "deleted"),
        (Provider.BITBUCKET, "bitbucket/push-tag.json", "repo:push", "master", "tag feature/x"),
        (Provider.BITBUCKET, "bitbucket/push-tag-delete.json", "repo:push", "master", "(deleted)"),
        (Provider.GITHUB, "github/push.json", "issues", "master", "not a push"),
    ],
)
def test_deletes_tags_and_other_events_deploy_nothing(
    provider: Provider, name: str, event: str, branch: str, reason: str
) -> None:
    verdict = decide(verified_event(provider, name, event), branch)
    assert verdict.commit is None
    assert reason in verdict.reason


def test_github_ping() -> None:
    assert verified_event(Provider.GITHUB, "github/ping.json", "ping").kind is EventKind.PING


def test_gitlab_annotated_tag_uses_checkout_sha() -> None:
    event = verified_event(Provider.GITLAB, "gitlab/tag-push-annotated.json", "Tag Push Hook")
    assert event.refs[0].commit == json.loads(payload("gitlab/tag-push-annotated.json"))["checkout_sha"]


@pytest.mark.parametrize("provider", list(Provider))
def test_wrong_secret_missing_signature_and_tampered_body_are_refused(provider: Provider) -> None:
    body = payload(f"{provider.value}/push.json")
    headers = signed_headers(provider, body, "push", secret="not-the-secret")
    with pytest.raises(WebhookUnauthorized):
        verify_signature(provider, headers, body, SECRET)
    with pytest.raises(WebhookUnauthorized):
        verify_signature(provider, {}, body, SECRET)
    if provider is not Provider.GITLAB:  # GitLab sends a token, not a signature of the body
        good = signed_headers(provider, body, "push")
        with pytest.raises(WebhookUnauthorized):
            verify_signature(provider, good, body.replace(b"master", b"main", 1) + b" ", SECRET)


def test_github_legacy_sha1_alone_is_not_enough() -> None:
    body = payload("github/push.json")
    headers = signed_headers(Provider.GITHUB, body, "push")
    del headers["x-hub-signature-256"]
    with pytest.raises(WebhookUnauthorized):
        verify_signature(Provider.GITHUB, headers, body, SECRET)


def test_bitbucket_needs_the_sha256_prefix() -> None:
    body = payload("bitbucket/push.json")
    headers = {"x-hub-signature": hex_hmac(body)}
    with pytest.raises(WebhookUnauthorized):
        verify_signature(Provider.BITBUCKET, headers, body, SECRET)


def test_gitea_form_delivery_is_signed_over_the_json() -> None:
    document = payload("gitea/push.json")
    body = b"payload=" + quote_plus(document.decode()).encode()
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-gitea-event": "push",
        "x-gitea-signature": hex_hmac(document),
    }
    signed, parsed_document = signed_document(Provider.GITEA, headers, body)
    verify_signature(Provider.GITEA, headers, signed, SECRET)
    event = parse_event(Provider.GITEA, headers, parsed_document)
    assert decide(event, "main").commit == "29be01c073851cf0db0c6a466e396b725a670453"


def test_github_form_delivery_is_signed_over_the_raw_body() -> None:
    document = payload("github/push.json")
    body = b"payload=" + quote_plus(document.decode()).encode()
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-github-event": "push",
        "x-hub-signature-256": "sha256=" + hex_hmac(body),
    }
    signed, parsed_document = signed_document(Provider.GITHUB, headers, body)
    verify_signature(Provider.GITHUB, headers, signed, SECRET)
    assert decide(parse_event(Provider.GITHUB, headers, parsed_document), "master").commit is not None


@pytest.mark.parametrize("document", [b"{not json", b"[1, 2]", b"", b"\xff\xfe"])
def test_malformed_json(document: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_event(Provider.GITHUB, {"x-github-event": "push"}, document)


@pytest.mark.parametrize(
    "document",
    [
        b'{"ref": "refs/heads/main", "after": "not-a-sha"}',
        b'{"ref": 5, "after": "' + b"a" * 40 + b'"}',
        b'{"after": "' + b"a" * 40 + b'"}',
    ],
)
def test_pushes_without_their_fields_are_malformed(document: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_event(Provider.GITHUB, {"x-github-event": "push"}, document)


def test_delivery_ids() -> None:
    body = payload("gitlab/push.json")
    with_key = parse_event(Provider.GITLAB, {"x-gitlab-event": "Push Hook", "idempotency-key": "k1"}, body)
    assert with_key.delivery_id == "k1"
    without = parse_event(Provider.GITLAB, {"x-gitlab-event": "Push Hook"}, body)
    assert without.delivery_id == "sha256:" + hashlib.sha256(body).hexdigest()
    with pytest.raises(InvalidInput):
        parse_event(
            Provider.GITHUB,
            {"x-github-event": "push", "x-github-delivery": "x\ny"},
            payload("github/push.json"),
        )


def test_unknown_provider() -> None:
    with pytest.raises(NotFound):
        parse_provider("sourcehut")
