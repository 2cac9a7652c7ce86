"""Signed push deliveries shaped like each provider's real ones (tests/fixtures/webhook_payloads as
templates), pointed at a repository served on loopback.
"""

import copy
import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any

PAYLOADS = Path(__file__).parents[1] / "fixtures" / "webhook_payloads"
ZERO = "0" * 40
PROVIDERS = ("github", "gitlab", "gitea", "bitbucket")


def template(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    return data


def hex_hmac(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def push_payload(
    provider: str, *, branch: str, commit: str, clone_url: str, tag: bool = False
) -> dict[str, Any]:
    """A push event of `commit` to `branch` (or a tag of that name), from the provider's template."""
    ref = f"refs/{'tags' if tag else 'heads'}/{branch}"
    if provider == "bitbucket":
        data = template("bitbucket/push-tag.json" if tag else "bitbucket/push.json")
        change = data["push"]["changes"][0]
        change["new"]["name"] = branch
        change["new"]["target"]["hash"] = commit
        return data  # Bitbucket sends no clone URL: the app's source setting is what is fetched
    if provider == "gitlab":
        data = template("gitlab/push.json")
        data |= {"ref": ref, "after": commit, "checkout_sha": commit}
        data["project"]["git_http_url"] = clone_url
        if tag:
            data["object_kind"] = "tag_push"
        return data
    data = template(f"{provider}/push.json")
    data |= {"ref": ref, "after": commit}
    data["repository"]["clone_url"] = clone_url
    if provider == "github":
        data["head_commit"] = copy.deepcopy(data["head_commit"]) | {"id": commit}
    return data


def delete_payload(provider: str, *, branch: str) -> tuple[dict[str, Any], str]:
    """A branch deletion as the provider sends it, and its event name."""
    if provider == "github":
        return template("github/push-branch-delete.json") | {"ref": f"refs/heads/{branch}"}, "push"
    if provider == "gitlab":
        return template("gitlab/push-branch-delete.json") | {"ref": f"refs/heads/{branch}"}, "Push Hook"
    if provider == "gitea":
        return template("gitea/delete-branch.json") | {"ref": branch}, "delete"
    data = template("bitbucket/push-branch-delete.json")
    data["push"]["changes"][0]["old"]["name"] = branch
    return data, "repo:push"


def encode(provider: str, data: dict[str, Any]) -> bytes:
    # Gitea sends Go's json.MarshalIndent output; the others compact JSON.
    return json.dumps(data, indent=2 if provider == "gitea" else None).encode()


def signed_headers(
    provider: str, body: bytes, *, secret: str, event: str | None = None, delivery: str | None = None
) -> dict[str, str]:
    """The headers the provider sends with a delivery of `body` signed with `secret`."""
    delivery = delivery or str(uuid.uuid4())
    signature = hex_hmac(secret, body)
    if provider == "github":
        return {
            "Content-Type": "application/json",
            "X-GitHub-Event": event or "push",
            "X-GitHub-Delivery": delivery,
            "X-GitHub-Hook-ID": "292430182",
            "X-Hub-Signature-256": f"sha256={signature}",
            "User-Agent": "GitHub-Hookshot/e2e",
        }
    if provider == "gitlab":
        return {
            "Content-Type": "application/json",
            "X-Gitlab-Event": event or "Push Hook",
            "X-Gitlab-Token": secret,
            "X-Gitlab-Event-UUID": delivery,
            "X-Gitlab-Webhook-UUID": "f1b7e8c2-0d5a-4a0e-9d7b-5c6a9a3e0f11",
            "Idempotency-Key": delivery,
        }
    if provider == "gitea":
        return {
            "Content-Type": "application/json",
            "X-Gitea-Event": event or "push",
            "X-Gitea-Event-Type": event or "push",
            "X-Gitea-Delivery": delivery,
            "X-Gitea-Signature": signature,
            "X-GitHub-Event": event or "push",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": f"sha256={signature}",
        }
    return {
        "Content-Type": "application/json",
        "X-Event-Key": event or "repo:push",
        "X-Request-UUID": delivery,
        "X-Hook-UUID": "{4b6a1f1e-2d3c-4b5a-8c7d-9e0f1a2b3c4d}",
        "X-Attempt-Number": "1",
        "X-Hub-Signature": f"sha256={signature}",
    }


def unsigned(provider: str, headers: dict[str, str]) -> dict[str, str]:
    names = {"X-Hub-Signature-256", "X-Hub-Signature", "X-Gitea-Signature", "X-Gitlab-Token"}
    return {name: value for name, value in headers.items() if name not in names}
