"""The git routers: SSH keys and app sources (admin token), and the routes git-shell and the
pre-receive hook call with the hook token."""

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.api.conftest import Bed

ZERO = "0" * 40
COMMIT = "b" * 40


def _public_key(comment: str) -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{line} {comment}"


def _hook(bed: Bed) -> dict[str, str]:
    return {"Authorization": f"Bearer {bed.services.git.hook_token}"}


def test_keys_are_added_listed_written_for_sshd_and_removed(bed: Bed) -> None:
    added = bed.post("/api/v1/keys", json={"name": "alice", "public_key": _public_key("alice@laptop")})
    assert added.status_code == 201, added.text
    assert added.json()["name"] == "alice" and added.json()["key_type"] == "ssh-ed25519"
    assert added.json()["fingerprint"].startswith("SHA256:")
    assert [key["name"] for key in bed.get("/api/v1/keys").json()] == ["alice"]
    authorized = bed.settings.git_authorized_keys
    assert authorized is not None and "alice" in authorized.read_text()

    assert bed.delete("/api/v1/keys/alice").status_code == 204
    assert bed.get("/api/v1/keys").json() == []
    assert "alice" not in authorized.read_text()


def test_a_duplicate_key_is_a_409_and_an_unknown_one_a_404(bed: Bed) -> None:
    key = _public_key("alice@laptop")
    assert bed.post("/api/v1/keys", json={"name": "alice", "public_key": key}).status_code == 201
    again = bed.post("/api/v1/keys", json={"name": "alice", "public_key": _public_key("x")})
    assert again.status_code == 409, again.text
    assert bed.delete("/api/v1/keys/bob").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"name": "alice", "public_key": "not a key"},
        {"name": "alice", "public_key": "ssh-ed25519 AAAA!!!! x"},
        {"name": "alice\nevil", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 x"},
    ],
)
def test_malformed_keys_are_a_400_and_nothing_is_written(bed: Bed, body: dict[str, str]) -> None:
    response = bed.post("/api/v1/keys", json=body)
    assert response.status_code == 400, response.text
    assert bed.get("/api/v1/keys").json() == []


def test_a_key_body_missing_fields_is_a_422(bed: Bed) -> None:
    assert bed.post("/api/v1/keys", json={"name": "alice"}).status_code == 422


def test_an_apps_source_shows_remotes_and_webhooks_and_is_updated(bed: Bed) -> None:
    bed.create_app("web")
    info = bed.get("/api/v1/apps/web/source").json()
    assert info["branch"] == "main" and info["repo_url"] is None
    assert info["http_remote"].endswith("/git/web.git")
    assert set(info["webhook_urls"]) >= {"github", "gitlab"}
    secret = info["webhook_secret"]

    updated = bed.put(
        "/api/v1/apps/web/source",
        json={"repo_url": "https://git.example.com/web.git", "branch": "release", "new_webhook_secret": True},
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["repo_url"] == "https://git.example.com/web.git" and body["branch"] == "release"
    assert body["webhook_secret"] != secret


def test_bad_sources_are_refused(bed: Bed) -> None:
    bed.create_app("web")
    local = bed.put("/api/v1/apps/web/source", json={"repo_url": "file:///etc"})
    assert local.status_code == 400, local.text
    assert bed.put("/api/v1/apps/web/source", json={"branch": "../x"}).status_code == 400
    assert bed.get("/api/v1/apps/web/source").json()["repo_url"] is None
    assert bed.get("/api/v1/apps/nope/source").status_code == 404
    assert bed.put("/api/v1/apps/nope/source", json={"branch": "main"}).status_code == 404


def test_the_hook_opens_an_apps_repo_with_a_ticket_for_a_known_key(bed: Bed) -> None:
    bed.create_app("web")
    bed.post("/api/v1/keys", json={"name": "alice", "public_key": _public_key("alice")})
    fetch = bed.client.post(
        "/api/v1/git/apps/web/access", json={"service": "git-upload-pack"}, headers=_hook(bed)
    )
    assert fetch.status_code == 200, fetch.text
    assert fetch.json()["path"].endswith("web.git") and fetch.json()["ticket"] is None
    push = bed.client.post(
        "/api/v1/git/apps/web/access",
        json={"service": "git-receive-pack", "key": "alice"},
        headers=_hook(bed),
    )
    assert push.status_code == 200 and push.json()["ticket"], push.text
    stranger = bed.client.post(
        "/api/v1/git/apps/web/access",
        json={"service": "git-receive-pack", "key": "mallory"},
        headers=_hook(bed),
    )
    assert stranger.status_code == 403, stranger.text


def test_the_hook_is_refused_unknown_services_and_apps(bed: Bed) -> None:
    unknown_app = bed.client.post(
        "/api/v1/git/apps/nope/access", json={"service": "git-receive-pack"}, headers=_hook(bed)
    )
    assert unknown_app.status_code == 404 and "dockyard apps create nope" in unknown_app.json()["detail"]
    bed.create_app("web")
    service = bed.client.post(
        "/api/v1/git/apps/web/access", json={"service": "git-shell"}, headers=_hook(bed)
    )
    assert service.status_code == 400, service.text


def test_a_push_plan_deploys_only_the_deploy_branch(bed: Bed) -> None:
    bed.create_app("web")
    updates = [
        {"old": ZERO, "new": COMMIT, "ref": "refs/heads/main"},
        {"old": ZERO, "new": COMMIT, "ref": "refs/heads/feature"},
    ]
    plan = bed.client.post("/api/v1/git/apps/web/pushes", json={"updates": updates}, headers=_hook(bed))
    assert plan.status_code == 200, plan.text
    assert plan.json()["deploy"] == updates[0]
    assert plan.json()["messages"] == ["branch feature pushed: not deployed (web deploys branch main)"]
    bad = bed.client.post(
        "/api/v1/git/apps/web/pushes",
        json={"updates": [{"old": "x", "new": COMMIT, "ref": "refs/heads/main"}]},
        headers=_hook(bed),
    )
    assert bad.status_code == 400, bad.text


def test_a_push_deploy_needs_the_deploy_branch_and_a_ticket(bed: Bed) -> None:
    bed.create_app("web")
    other = {"old": ZERO, "new": COMMIT, "ref": "refs/heads/feature", "ticket": "t"}
    refused = bed.client.post("/api/v1/git/apps/web/deploys", json=other, headers=_hook(bed))
    assert refused.status_code == 400 and "not the deploy branch" in refused.json()["detail"]
    no_ticket = {"old": ZERO, "new": COMMIT, "ref": "refs/heads/main"}
    forbidden = bed.client.post("/api/v1/git/apps/web/deploys", json=no_ticket, headers=_hook(bed))
    assert forbidden.status_code == 403, forbidden.text
    assert bed.get("/api/v1/apps/web/deploys").json() == []
