"""The users, tokens and audit routes: secrets shown once, never a hash, bad input refused."""

import time
from dataclasses import replace
from typing import Any

import pytest

from controller.domain.account_records import AuditQuery
from tests.api.conftest import Bed


def test_users_are_added_listed_changed_and_removed(bed: Bed) -> None:
    bed.create_app("web")
    created = bed.post("/api/v1/users", json={"name": "dave", "role": "developer", "apps": ["web"]})
    assert created.status_code == 201, created.text
    password = created.json()["password"]
    assert password and len(password) >= 16
    listed = bed.get("/api/v1/users").json()
    assert listed == [
        {"name": "dave", "role": "developer", "apps": ["web"], "created_at": listed[0]["created_at"]}
    ]
    assert "hash" not in bed.get("/api/v1/users").text
    changed = bed.put("/api/v1/users/dave", json={"role": "viewer", "apps": []})
    assert changed.json()["role"] == "viewer" and changed.json()["apps"] is None
    given = bed.put("/api/v1/users/dave/password", json={"password": "a long enough one"})
    assert given.json() == {"password": None}
    assert bed.delete("/api/v1/users/dave").status_code == 204
    assert bed.get("/api/v1/users").json() == []


def test_bad_user_input_is_a_clear_4xx_and_changes_nothing(bed: Bed) -> None:
    for body in (
        {"name": "x", "role": "root"},
        {"name": "x", "role": "developer", "apps": ["nope"]},
        {"name": "x", "role": "viewer", "password": ""},
        {"name": "x", "role": "viewer", "password": "p" * 5000},
        {"name": "Bad Name", "role": "viewer"},
    ):
        response = bed.post("/api/v1/users", json=body)
        assert 400 <= response.status_code < 500, (body, response.text)
    assert bed.get("/api/v1/users").json() == []
    bed.post("/api/v1/users", json={"name": "x", "role": "admin"})
    assert bed.post("/api/v1/users", json={"name": "x", "role": "admin"}).status_code == 409
    last = bed.delete("/api/v1/users/x")
    assert last.status_code == 409 and "last admin" in last.text
    assert bed.put("/api/v1/users/x", json={"role": "viewer"}).status_code == 409


def test_a_token_is_shown_once_listed_without_its_secret_and_refused_after_revoke(bed: Bed) -> None:
    created = bed.post("/api/v1/tokens", json={"name": "ci", "role": "viewer", "expires": "30d"})
    assert created.status_code == 201, created.text
    secret = created.json()["token"]
    listed = bed.get("/api/v1/tokens")
    assert secret not in listed.text and "hash" not in listed.text
    names = {t["name"]: t for t in listed.json()}
    assert set(names) == {"bootstrap-admin", "ci"}
    assert names["ci"]["expires_at"] is not None
    viewer = {"Authorization": f"Bearer {secret}"}
    assert bed.client.get("/api/v1/apps", headers=viewer).status_code == 200
    assert bed.delete("/api/v1/tokens/ci").json()["revoked_at"] is not None
    assert bed.client.get("/api/v1/apps", headers=viewer).status_code == 401
    assert bed.post("/api/v1/tokens", json={"name": "ci", "role": "viewer"}).status_code == 409
    assert (
        bed.post("/api/v1/tokens", json={"name": "x", "role": "viewer", "expires": "soon"}).status_code == 400
    )


def test_the_bootstrap_token_can_be_revoked(bed: Bed) -> None:
    bed.post("/api/v1/tokens", json={"name": "spare", "role": "admin"})
    assert bed.delete("/api/v1/tokens/bootstrap-admin").status_code == 200
    assert bed.get("/api/v1/apps").status_code == 401


def test_the_audit_log_records_changes_and_refusals(bed: Bed) -> None:
    bed.create_app("web")
    bed.create_app("other")
    dev = bed.post("/api/v1/users", json={"name": "dave", "role": "developer", "apps": ["web"]})
    assert dev.status_code == 201
    secret = bed.post("/api/v1/tokens", json={"name": "dave-ci", "user": "dave"}).json()["token"]
    headers = {"Authorization": f"Bearer {secret}"}
    domain = {"domain": "web.example.com"}
    assert bed.client.post("/api/v1/apps/other/domains", json=domain, headers=headers).status_code == 403
    assert bed.client.post("/api/v1/apps/web/domains", json=domain, headers=headers).status_code == 201

    events = bed.get("/api/v1/audit").json()
    rows = [(e["actor"], e["action"], e["app"], e["outcome"]) for e in events]
    assert ("dave-ci", "add_domain", "web", "ok") in rows
    assert ("dave-ci", "add_domain", "other", "denied") in rows
    assert ("bootstrap-admin", "create_app", None, "ok") in rows
    assert all(e["source"] for e in events)

    mine = bed.client.get("/api/v1/audit", headers=headers).json()
    assert {e["app"] for e in mine} == {"web"}
    assert bed.client.get("/api/v1/audit?app=other", headers=headers).status_code == 403
    only = bed.get("/api/v1/audit", params={"user": "dave-ci", "app": "other"}).json()
    assert [e["outcome"] for e in only] == ["denied"]


def test_a_config_change_is_audited_once_with_its_job_before_the_answer(
    bed: Bed, monkeypatch: pytest.MonkeyPatch
) -> None:
    bed.create_app("web")
    trail: list[dict[str, Any]] = []  # what the audit trail hands the audit log's writer
    monkeypatch.setattr(bed.services.accounts.audit, "record", lambda **event: trail.append(event))
    assert bed.patch("/api/v1/apps/web/config", json={"set": {"K": "v"}}).status_code == 202

    # In the database as the answer comes, stored with the job (not left to the writer).
    (stored,) = bed.services.store.query_audit(AuditQuery(app="web"))
    assert (stored.actor, stored.action, stored.app, stored.outcome, stored.detail) == (
        "bootstrap-admin",
        "update_config",
        "web",
        "ok",
        "PATCH /api/v1/apps/web/config -> 202",
    )
    assert stored.source and trail == []

    # A change the intake refuses is recorded by the audit trail, with its outcome, as before.
    assert bed.patch("/api/v1/apps/ghost/config", json={"set": {"K": "v"}}).status_code == 404
    assert [(e["action"], e["app"], e["outcome"], e["detail"]) for e in trail] == [
        ("update_config", "ghost", "failed", "PATCH /api/v1/apps/ghost/config -> 404")
    ]
    assert bed.services.store.query_audit(AuditQuery(app="ghost")) == []


def test_the_reconcilers_repairs_are_audited_as_the_reconciler(bed: Bed) -> None:
    bed.create_app("web")
    bed.deploy("web")
    (container,) = bed.runtime.list_containers("web")
    bed.runtime.containers[container.id] = replace(container, state="exited")
    # A pass that still sees the deploy's job running leaves the app alone: pass again until queued.
    repairs: list[dict[str, str]] = []
    for _ in range(100):
        bed.services.reconciler.reconcile_once()
        events = bed.get("/api/v1/audit", params={"user": "reconciler"}).json()
        repairs = [e for e in events if e["action"] == "queue_repair"]
        if repairs:
            break
        time.sleep(0.05)
    assert [(e["app"], e["outcome"]) for e in repairs] == [("web", "ok")]
    assert repairs[0]["detail"].startswith("0 of 1 web containers run: repair deploy ")
