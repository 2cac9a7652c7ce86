"""Accounts against a real controller, through the real CLI: roles, app scopes, revoke, audit."""

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import write_static_app
from tests.e2e.conftest import DOCKYARD, Controller

pytestmark = pytest.mark.integration


def _as(ctl: Controller, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with another user's token."""
    env = {**ctl.env, "DOCKYARD_TOKEN": token}
    return subprocess.run(
        [DOCKYARD, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_roles_scopes_revoke_and_audit_end_to_end(controller: Controller, tmp_path: Path) -> None:
    ctl = controller
    ctl.cli("apps", "create", "web")
    ctl.cli("apps", "create", "other")
    added = ctl.cli("users", "add", "vera", "--role", "viewer").stdout
    assert "password (shown once): " in added
    ctl.cli("users", "add", "dave", "--role", "developer", "--app", "web")
    viewer = ctl.cli("tokens", "create", "vera-cli", "--user", "vera").stdout.strip()
    developer = ctl.cli("tokens", "create", "dave-cli", "--user", "dave", "--expires", "30d").stdout.strip()
    listed = ctl.cli("tokens", "list").stdout
    assert viewer not in listed and developer not in listed
    assert {"bootstrap-admin", "vera-cli", "dave-cli"} <= {
        t["name"] for t in json.loads(ctl.cli("tokens", "list", "--json").stdout)
    }

    app_dir = str(write_static_app(tmp_path / "app", body="hello"))
    refused = _as(ctl, viewer, "deploy", "web", "--path", app_dir)
    assert refused.returncode != 0 and "HTTP 403" in refused.stderr, refused.stderr
    elsewhere = _as(ctl, developer, "deploy", "other", "--path", app_dir)
    assert elsewhere.returncode != 0 and "HTTP 403" in elsewhere.stderr, elsewhere.stderr
    deployed = _as(ctl, developer, "deploy", "web", "--path", app_dir)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert ctl.get_app("web").text == "hello"
    assert json.loads(_as(ctl, developer, "apps", "list", "--json").stdout)[0]["name"] == "web"
    assert len(json.loads(_as(ctl, developer, "apps", "list", "--json").stdout)) == 1

    ctl.cli("tokens", "revoke", "dave-cli")
    after = _as(ctl, developer, "apps", "list")
    assert after.returncode != 0 and "HTTP 401" in after.stderr, after.stderr

    events = json.loads(ctl.cli("audit", "--json").stdout)
    rows = {(e["actor"], e["action"], e["app"], e["outcome"]) for e in events}
    assert ("vera-cli", "deploy_archive", "web", "denied") in rows
    assert ("dave-cli", "deploy_archive", "other", "denied") in rows
    assert ("dave-cli", "deploy_archive", "web", "ok") in rows
    assert ("bootstrap-admin", "revoke_token", None, "ok") in rows
    assert all(e["source"] == "127.0.0.1" for e in events)
    only_web = json.loads(ctl.cli("audit", "--app", "web", "--user", "dave-cli", "--json").stdout)
    assert [e["outcome"] for e in only_web] == ["ok"]
    assert "ACTOR" in ctl.cli("audit").stdout


def test_browser_login_csrf_logout_and_rate_limit_over_real_http(controller: Controller) -> None:
    ctl = controller
    ctl.cli("apps", "create", "web")
    add = [DOCKYARD, "users", "add", "dave", "--role", "developer", "--app", "web", "--password-stdin"]
    subprocess.run(
        add, env=ctl.env, input="s3cret-pass\n", text=True, capture_output=True, check=True, timeout=60
    )
    with httpx.Client(base_url=ctl.url + "/api/v1", timeout=30) as browser:
        login = browser.post("/session", json={"user": "dave", "password": "s3cret-pass"})
        assert login.status_code == 200, login.text
        assert "httponly" in login.headers["set-cookie"].lower()
        csrf = login.json()["csrf_token"]
        assert [a["name"] for a in browser.get("/apps").json()] == ["web"]
        domain = {"domain": "web.example.com"}
        assert browser.post("/apps/web/domains", json=domain).status_code == 403
        added = browser.post("/apps/web/domains", json=domain, headers={"X-CSRF-Token": csrf})
        assert added.status_code == 201, added.text
        assert browser.delete("/session", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert browser.get("/apps").status_code == 401

    with httpx.Client(base_url=ctl.url + "/api/v1", timeout=30) as guesser:
        answers = [
            guesser.post("/session", json={"user": "dave", "password": f"guess-{i}"}) for i in range(6)
        ]
    assert [a.status_code for a in answers] == [401] * 5 + [429]
    assert int(answers[-1].headers["Retry-After"]) > 0
    failures = json.loads(ctl.cli("audit", "--user", "dave", "--json").stdout)
    assert sum(1 for e in failures if e["action"] == "login" and e["outcome"] == "denied") == 6
