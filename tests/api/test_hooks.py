"""The webhook router: deliveries are checked against the app's secret, then answered by kind."""

import hashlib
import hmac
import json
from typing import Any

from httpx import Response

from tests.api.conftest import Bed

MAIN = "refs/heads/main"
COMMIT = "a" * 40


def _deliver(bed: Bed, app: str, secret: str, event: str, payload: dict[str, Any], delivery: str) -> Response:
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": signature,
    }
    response: Response = bed.client.post(f"/hooks/github/{app}", content=body, headers=headers)
    return response


def _secret(bed: Bed, app: str) -> str:
    secret: str = bed.get(f"/api/v1/apps/{app}/source").json()["webhook_secret"]
    return secret


def test_a_signed_ping_is_answered(bed: Bed) -> None:
    bed.create_app("web")
    response = _deliver(bed, "web", _secret(bed, "web"), "ping", {"zen": "hi"}, "d-1")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "pong", "app": "web"}


def test_a_push_to_another_branch_is_ignored_with_the_reason(bed: Bed) -> None:
    bed.create_app("web")
    payload = {"ref": "refs/heads/feature", "after": COMMIT, "before": "0" * 40}
    response = _deliver(bed, "web", _secret(bed, "web"), "push", payload, "d-2")
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "ignored" and response.json()["reason"]
    assert bed.get("/api/v1/apps/web/deploys").json() == []


def test_a_push_without_a_source_repository_is_a_409(bed: Bed) -> None:
    bed.create_app("web")
    payload = {"ref": MAIN, "after": COMMIT, "before": "0" * 40}
    response = _deliver(bed, "web", _secret(bed, "web"), "push", payload, "d-3")
    assert response.status_code == 409, response.text
    assert "no source repository" in response.json()["detail"]


def test_a_push_to_the_branch_queues_a_deploy_once(bed: Bed) -> None:
    bed.create_app("web")
    source = bed.put("/api/v1/apps/web/source", json={"repo_url": "https://git.example.com/web.git"})
    assert source.status_code == 200, source.text
    payload = {"ref": MAIN, "after": COMMIT, "before": "0" * 40}
    secret = _secret(bed, "web")
    response = _deliver(bed, "web", secret, "push", payload, "d-4")
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued", response.json()
    again = _deliver(bed, "web", secret, "push", payload, "d-4")
    assert again.status_code in (200, 202) and again.json()["status"] != "queued", again.text
    assert len(bed.get("/api/v1/apps/web/deploys").json()) == 1


def test_a_wrong_signature_or_an_unknown_app_is_a_401_alike(bed: Bed) -> None:
    bed.create_app("web")
    wrong = _deliver(bed, "web", "not-the-secret", "ping", {}, "d-5")
    unknown = _deliver(bed, "nope", "not-the-secret", "ping", {}, "d-6")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    unsigned = bed.client.post("/hooks/github/web", content=b"{}", headers={"X-GitHub-Event": "ping"})
    assert unsigned.status_code == 401


def test_unknown_providers_bad_names_and_bad_json_are_refused(bed: Bed) -> None:
    bed.create_app("web")
    assert bed.client.post("/hooks/svn/web", content=b"{}").status_code == 404
    assert bed.client.post("/hooks/github/Not_An_App", content=b"{}").status_code == 400
    secret = _secret(bed, "web")
    body = b"{not json"
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    malformed = bed.client.post(
        "/hooks/github/web",
        content=body,
        headers={
            "X-GitHub-Event": "push",
            "X-Hub-Signature-256": signature,
            "Content-Type": "application/json",
        },
    )
    assert malformed.status_code == 400, malformed.text


def test_deliveries_are_audited_as_the_provider(bed: Bed) -> None:
    bed.create_app("web")
    bed.put("/api/v1/apps/web/source", json={"repo_url": "https://git.example.com/web.git"})
    payload = {"ref": MAIN, "after": COMMIT, "before": "0" * 40}
    assert _deliver(bed, "web", _secret(bed, "web"), "push", payload, "d-9").status_code == 202
    assert _deliver(bed, "web", "not-the-secret", "push", payload, "d-10").status_code == 401
    events = bed.get("/api/v1/audit", params={"user": "webhook:github"}).json()
    assert [(e["action"], e["app"], e["outcome"]) for e in events] == [
        ("receive_webhook", "web", "denied"),
        ("receive_webhook", "web", "ok"),
    ]
