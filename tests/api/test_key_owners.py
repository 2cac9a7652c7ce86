"""SSH keys belong to a user: a push over SSH has that user's rights (issue 9.4)."""

import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.api.conftest import Bed


def _public_key() -> str:
    key = Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def _access(bed: Bed, app: str, key: str, service: str) -> tuple[int, str]:
    hook = {"Authorization": f"Bearer {bed.services.git.hook_token}"}
    response = bed.client.post(
        f"/api/v1/git/apps/{app}/access", json={"service": service, "key": key}, headers=hook
    )
    return response.status_code, response.text


def test_a_key_pushes_with_its_owners_rights(bed: Bed) -> None:
    bed.create_app("web")
    bed.create_app("other")
    bed.services.accounts.users.add("vera", role="viewer")
    bed.services.accounts.users.add("dave", role="developer", apps=["web"])
    for name, user in (("vera-laptop", "vera"), ("dave-laptop", "dave"), ("ops", None)):
        added = bed.post("/api/v1/keys", json={"name": name, "public_key": _public_key(), "user": user})
        assert added.status_code == 201, added.text
    owners = {k["name"]: k["owner"] for k in bed.get("/api/v1/keys").json()}
    assert owners == {"vera-laptop": "vera", "dave-laptop": "dave", "ops": None}

    status, text = _access(bed, "web", "vera-laptop", "git-receive-pack")
    assert status == 403 and "vera (viewer) may not push to 'web'" in text
    assert _access(bed, "web", "vera-laptop", "git-upload-pack")[0] == 200
    assert _access(bed, "other", "dave-laptop", "git-receive-pack")[0] == 403
    assert _access(bed, "other", "dave-laptop", "git-upload-pack")[0] == 403
    assert _access(bed, "web", "dave-laptop", "git-receive-pack")[0] == 200
    assert _access(bed, "other", "ops", "git-receive-pack")[0] == 200  # an admin's key, as before owners


def test_an_unknown_owner_is_refused_and_removing_a_user_removes_its_keys(bed: Bed) -> None:
    missing = bed.post("/api/v1/keys", json={"name": "k", "public_key": _public_key(), "user": "ghost"})
    assert missing.status_code == 404
    assert bed.get("/api/v1/keys").json() == []
    bed.create_app("web")
    bed.services.accounts.users.add("root", role="admin")
    bed.services.accounts.users.add("vera", role="viewer")
    bed.post("/api/v1/keys", json={"name": "vera-laptop", "public_key": _public_key(), "user": "vera"})
    keys_file = bed.settings.git_authorized_keys
    assert keys_file is not None and "vera-laptop" in keys_file.read_text()
    assert bed.delete("/api/v1/users/vera").status_code == 204
    assert bed.get("/api/v1/keys").json() == []
    assert "vera-laptop" not in keys_file.read_text()
    assert _access(bed, "web", "vera-laptop", "git-upload-pack")[0] == 403


def test_the_audit_log_names_the_keys_owner_not_the_hook(bed: Bed) -> None:
    """git-shell's and the pre-receive hook's calls are the pusher's: the key's owner, else the key."""
    bed.create_app("web")
    bed.services.accounts.users.add("vera", role="viewer")
    bed.services.accounts.users.add("dave", role="developer", apps=["web"])
    for name, user in (("vera-laptop", "vera"), ("dave-laptop", "dave"), ("ops", None)):
        bed.post("/api/v1/keys", json={"name": name, "public_key": _public_key(), "user": user})
    assert _access(bed, "web", "vera-laptop", "git-receive-pack")[0] == 403
    assert _access(bed, "web", "ops", "git-receive-pack")[0] == 200
    status, text = _access(bed, "web", "dave-laptop", "git-receive-pack")
    assert status == 200
    ticket = json.loads(text)["ticket"]
    hook = {"Authorization": f"Bearer {bed.services.git.hook_token}"}
    update = {"old": "0" * 40, "new": "a" * 40, "ref": "refs/heads/main"}
    plan = bed.client.post(
        "/api/v1/git/apps/web/pushes", json={"updates": [update], "ticket": ticket}, headers=hook
    )
    assert plan.status_code == 200, plan.text

    events = bed.get("/api/v1/audit", params={"app": "web"}).json()
    rows = [(e["actor"], e["action"], e["outcome"]) for e in events]
    assert ("vera", "open_repo", "denied") in rows
    assert ("dave", "open_repo", "ok") in rows
    assert ("ops", "open_repo", "ok") in rows
    assert ("dave", "plan_push", "ok") in rows
    assert not [e for e in events if e["actor"] == "git-hook"]
    vera = next(e for e in events if e["actor"] == "vera")
    assert vera["detail"].startswith("SSH key vera-laptop: POST /api/v1/git/apps/web/access -> 403")
