"""Push webhooks of GitHub, GitLab, Gitea/Forgejo and Bitbucket: signature checks and payload parsing.

Pure: the raw body and the request headers (lowercased names) in, a verdict out. Signatures
are checked over the exact bytes received, in constant time, before the body is parsed.
"""

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs

from controller.domain.credentials import secrets_match
from controller.domain.errors import DockyardError, ErrorKind, InvalidInput, NotFound
from controller.domain.git_refs import HEADS, TAGS, is_zero_sha, validate_commit_sha

MAX_BODY_BYTES = 1024 * 1024
DELIVERY_ID_MAX = 200
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class WebhookUnauthorized(DockyardError):
    """The delivery's signature or token is missing or wrong."""

    kind = ErrorKind.UNAUTHORIZED


class Provider(StrEnum):
    GITHUB = "github"
    GITLAB = "gitlab"
    GITEA = "gitea"
    BITBUCKET = "bitbucket"


class EventKind(StrEnum):
    PING = "ping"
    PUSH = "push"
    OTHER = "other"


@dataclass(frozen=True)
class PushedRef:
    """One ref a push changed: a branch or a tag, and its new commit (None when deleted)."""

    kind: str  # "branch" | "tag" | "other"
    name: str
    commit: str | None
    before: str | None = None  # where the ref was before the push (None: new, or not said)
    forced: bool = False  # the provider marks the push as a force push (non-fast-forward)


@dataclass(frozen=True)
class WebhookEvent:
    """A verified delivery, reduced to what decides a deploy."""

    kind: EventKind
    delivery_id: str
    name: str  # the provider's own event name, for messages
    refs: tuple[PushedRef, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """What a push means for an app deploying `branch`: a commit to deploy, or why not."""

    commit: str | None
    reason: str
    before: str | None = None
    forced: bool = False


def parse_provider(name: str) -> Provider:
    try:
        return Provider(name)
    except ValueError:
        known = ", ".join(p.value for p in Provider)
        raise NotFound(f"unknown webhook provider {name!r}: use one of {known}") from None


def signed_document(provider: Provider, headers: Mapping[str, str], body: bytes) -> tuple[bytes, bytes]:
    """The bytes the provider signed and the JSON document, for JSON and form deliveries.

    Form deliveries carry the JSON in a `payload` field; GitHub and Bitbucket sign the raw
    body, Gitea signs the JSON string itself.
    """
    if headers.get("content-type", "").split(";")[0].strip().lower() != FORM_CONTENT_TYPE:
        return body, body
    fields = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=50)
    document = fields.get("payload", [""])[0].encode()
    return (document if provider is Provider.GITEA else body), document


def verify_signature(provider: Provider, headers: Mapping[str, str], signed: bytes, secret: str) -> None:
    """Check the provider's signature (or token) over `signed`, in constant time.

    Raises:
        WebhookUnauthorized: the header is missing, malformed or does not match.
    """
    if not secret:
        raise WebhookUnauthorized(
            "this app has no webhook secret: make one with `dockyard apps source APP --new-webhook-secret`"
        )
    key = secret.encode()
    if provider is Provider.GITLAB:
        _require_equal(headers.get("x-gitlab-token"), secret, "X-Gitlab-Token")
        return
    expected = hmac.new(key, signed, hashlib.sha256).hexdigest()
    if provider is Provider.GITHUB:
        _require_equal(_strip_prefix(headers.get("x-hub-signature-256")), expected, "X-Hub-Signature-256")
    elif provider is Provider.BITBUCKET:
        _require_equal(_strip_prefix(headers.get("x-hub-signature")), expected, "X-Hub-Signature")
    else:
        given = headers.get("x-gitea-signature") or headers.get("x-forgejo-signature")
        _require_equal(given, expected, "X-Gitea-Signature")


def _strip_prefix(value: str | None) -> str | None:
    if value is None or not value.startswith("sha256="):
        return None
    return value[len("sha256=") :]


def _require_equal(given: str | None, expected: str, header: str) -> None:
    if not given:
        raise WebhookUnauthorized(f"missing {header} header: set the webhook secret at the provider")
    if not secrets_match(given.encode("latin-1", "replace"), expected):
        raise WebhookUnauthorized(f"{header} does not match this app's webhook secret")


def parse_event(provider: Provider, headers: Mapping[str, str], document: bytes) -> WebhookEvent:
    """Parse a verified delivery's JSON into an event.

    Raises:
        InvalidInput: the body is not a JSON object, or a push lacks its fields.
    """
    try:
        payload = json.loads(document)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the webhook body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise InvalidInput("the webhook body is not a JSON object")
    delivery = _delivery_id(provider, headers, document)
    if provider is Provider.GITHUB:
        return _github(headers.get("x-github-event", ""), payload, delivery)
    if provider is Provider.GITLAB:
        return _gitlab(headers.get("x-gitlab-event", ""), payload, delivery)
    if provider is Provider.GITEA:
        name = (
            headers.get("x-gitea-event") or headers.get("x-forgejo-event") or headers.get("x-gogs-event", "")
        )
        return _gitea(name, payload, delivery)
    return _bitbucket(headers.get("x-event-key", ""), payload, delivery)


_DELIVERY_HEADERS = {
    Provider.GITHUB: ("x-github-delivery",),
    Provider.GITLAB: ("idempotency-key", "x-gitlab-event-uuid"),
    Provider.GITEA: ("x-gitea-delivery", "x-forgejo-delivery", "x-gogs-delivery"),
    Provider.BITBUCKET: ("x-request-uuid",),
}


def _delivery_id(provider: Provider, headers: Mapping[str, str], document: bytes) -> str:
    """The provider's delivery id (stable across its retries); without one, the body's hash."""
    for header in _DELIVERY_HEADERS[provider]:
        value = headers.get(header)
        if value:
            if len(value) > DELIVERY_ID_MAX or not value.isprintable():
                raise InvalidInput(f"malformed {header} header")
            return value
    return "sha256:" + hashlib.sha256(document).hexdigest()


def _github(event: str, payload: dict[str, Any], delivery: str) -> WebhookEvent:
    if event == "ping":
        return WebhookEvent(EventKind.PING, delivery, event)
    if event != "push":
        return WebhookEvent(EventKind.OTHER, delivery, event or "(no X-GitHub-Event)")
    return WebhookEvent(
        EventKind.PUSH, delivery, event, (_pushed_ref(payload.get("ref"), payload.get("after"), payload),)
    )


def _gitlab(event: str, payload: dict[str, Any], delivery: str) -> WebhookEvent:
    if event not in ("Push Hook", "Tag Push Hook"):
        return WebhookEvent(EventKind.OTHER, delivery, event or "(no X-Gitlab-Event)")
    # checkout_sha is the commit (for annotated tags `after` is the tag object); null on delete.
    commit = payload.get("checkout_sha") or payload.get("after")
    return WebhookEvent(EventKind.PUSH, delivery, event, (_pushed_ref(payload.get("ref"), commit, payload),))


def _gitea(event: str, payload: dict[str, Any], delivery: str) -> WebhookEvent:
    if event != "push":
        return WebhookEvent(EventKind.OTHER, delivery, event or "(no X-Gitea-Event)")
    return WebhookEvent(
        EventKind.PUSH, delivery, event, (_pushed_ref(payload.get("ref"), payload.get("after"), payload),)
    )


def _bitbucket(event: str, payload: dict[str, Any], delivery: str) -> WebhookEvent:
    if event == "diagnostics:ping":
        return WebhookEvent(EventKind.PING, delivery, event)
    if event != "repo:push":
        return WebhookEvent(EventKind.OTHER, delivery, event or "(no X-Event-Key)")
    changes = _field(payload, "push", dict).get("changes")
    if not isinstance(changes, list):
        raise InvalidInput("malformed repo:push payload: push.changes is not a list")
    refs = []
    for change in changes:
        if not isinstance(change, dict):
            raise InvalidInput("malformed repo:push payload: a change is not an object")
        new, old = change.get("new"), change.get("old")
        side = new if isinstance(new, dict) else old
        if not isinstance(side, dict):
            raise InvalidInput("malformed repo:push payload: a change has neither new nor old")
        kind = side.get("type") if side.get("type") in ("branch", "tag") else "other"
        name = side.get("name")
        if not isinstance(name, str):
            raise InvalidInput("malformed repo:push payload: a change has no ref name")
        commit = None
        if isinstance(new, dict):
            commit = validate_commit_sha(_field(new, "target", dict).get("hash", ""))
        before = None
        if isinstance(old, dict) and isinstance(old.get("target"), dict):
            before = _optional_sha(old["target"].get("hash"))
        refs.append(
            PushedRef(
                kind=str(kind), name=name, commit=commit, before=before, forced=change.get("forced") is True
            )
        )
    return WebhookEvent(EventKind.PUSH, delivery, event, tuple(refs))


def _pushed_ref(ref: Any, after: Any, payload: dict[str, Any]) -> PushedRef:
    if not isinstance(ref, str):
        raise InvalidInput("malformed push payload: no ref")
    deleted = (
        payload.get("deleted") is True or after is None or (isinstance(after, str) and is_zero_sha(after))
    )
    commit = None if deleted else validate_commit_sha(after if isinstance(after, str) else "")
    before = _optional_sha(payload.get("before"))
    forced = payload.get("forced") is True
    if ref.startswith(HEADS):
        return PushedRef("branch", ref[len(HEADS) :], commit, before, forced)
    if ref.startswith(TAGS):
        return PushedRef("tag", ref[len(TAGS) :], commit, before, forced)
    return PushedRef("other", ref, commit, before, forced)


def _optional_sha(value: Any) -> str | None:
    """A commit id the payload gives as context (`before`): None when absent, zero or malformed."""
    if not isinstance(value, str) or is_zero_sha(value):
        return None
    try:
        return validate_commit_sha(value)
    except InvalidInput:
        return None


def _field(payload: dict[str, Any], name: str, kind: type) -> Any:
    value = payload.get(name)
    if not isinstance(value, kind):
        raise InvalidInput(f"malformed payload: {name} is missing or not a {kind.__name__}")
    return value


def decide(event: WebhookEvent, branch: str) -> Verdict:
    """Which commit a push asks an app that deploys `branch` to deploy, or why none."""
    if event.kind is EventKind.PING:
        return Verdict(None, "pong")
    if event.kind is EventKind.OTHER:
        return Verdict(None, f"event {event.name!r} is not a push: nothing to deploy")
    others = []
    for ref in event.refs:
        if ref.kind == "branch" and ref.name == branch:
            if ref.commit is None:
                return Verdict(None, f"branch {branch} was deleted: nothing to deploy")
            return Verdict(
                ref.commit,
                f"deploying {ref.commit[:12]} of branch {branch}",
                before=ref.before,
                forced=ref.forced,
            )
        others.append(f"{ref.kind} {ref.name}" + (" (deleted)" if ref.commit is None else ""))
    pushed = ", ".join(others) or "no refs"
    return Verdict(None, f"push of {pushed}: only pushes to branch {branch} deploy")
