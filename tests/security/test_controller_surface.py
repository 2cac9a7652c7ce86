"""Hostile requests to a real controller get a clear 4xx and change nothing (issues 14.9, 14.10,
14.12), and its database is no other local user's to read (issue 14.11).
"""

import base64
import hashlib
import hmac
import json
import os
import stat
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Controller, shared_controller  # noqa: F401 - the fixture
from tests.security.test_inputs import tar_with

pytestmark = pytest.mark.integration


def mode(path: object) -> int:
    return stat.S_IMODE(path.stat().st_mode)  # type: ignore[attr-defined]


def test_the_database_and_private_dirs_are_the_controllers_only(shared_controller: Controller) -> None:  # noqa: F811
    ctl = shared_controller
    ctl.cli("apps", "create", "modes")  # a write: the WAL exists now
    database = ctl.data_dir / "dockyard.db"
    files = [database] + [
        database.with_name(database.name + s)
        for s in ("-wal", "-shm")
        if database.with_name(database.name + s).exists()
    ]
    assert len(files) >= 2, files
    for path in files:
        assert mode(path) == 0o600, (path, oct(mode(path)))
    for private in ("logs", "builds"):
        assert mode(ctl.data_dir / private) == 0o700
    assert mode(ctl.data_dir) & 0o044 == 0  # nobody else may list it (nginx and git only traverse)
    # What another local user could read, knowing the names: only what holds no data.
    readable = set()
    for root, dirnames, filenames in os.walk(ctl.data_dir):
        for name in dirnames + filenames:
            path = Path(root) / name
            reachable = all(mode(parent) & 0o001 for parent in path.parents if ctl.data_dir in parent.parents)
            if reachable and not path.is_symlink() and path.lstat().st_mode & 0o004:
                readable.add(str(path.relative_to(ctl.data_dir)))
    assert readable - {"nginx/nginx.pid", "nginx/.lock"} == set()


def test_webhooks_answer_401_alike_for_apps_that_exist_and_do_not(shared_controller: Controller) -> None:  # noqa: F811
    ctl = shared_controller
    ctl.cli("apps", "create", "hooked")
    body = json.dumps({"ref": "refs/heads/main", "after": "a" * 40}).encode()
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "d1",
        "X-Hub-Signature-256": "sha256=" + hmac.new(b"guess", body, hashlib.sha256).hexdigest(),
    }
    answers = [
        httpx.post(f"{ctl.url}/hooks/github/{app}", content=body, headers=headers, timeout=30)
        for app in ("hooked", "no-such-app")
    ]
    assert [a.status_code for a in answers] == [401, 401]
    assert answers[0].json() == answers[1].json()


def test_bad_numbers_and_names_are_4xx_not_500(shared_controller: Controller) -> None:  # noqa: F811
    ctl = shared_controller
    ctl.cli("apps", "create", "inputs")
    before = ctl.api("GET", "/apps/inputs/deploys").json()
    rollback = ctl.api("POST", "/apps/inputs/rollback", json={"to": 1e20})
    assert rollback.status_code == 422, rollback.text
    for url in ("ssh://host:abc/x", "ssh://host:99999/x", "https://host:0/x", "https://[::1/x"):
        answer = ctl.api("PUT", "/apps/inputs/source", json={"repo_url": url})
        assert answer.status_code == 400, (url, answer.text)
    private = ctl.api("PUT", "/apps/inputs/source", json={"repo_url": "https://169.254.169.254/x.git"})
    assert private.status_code == 400 and "DOCKYARD_GIT_ALLOW_PRIVATE_SOURCES" in private.text
    assert ctl.api("GET", "/apps/inputs/source").json()["repo_url"] is None
    upload = ctl.api("POST", "/apps/inputs/deploys", content=tar_with("n" * 300))
    assert upload.status_code == 400 and "longer than 255 bytes" in upload.text
    assert ctl.api("GET", "/apps/inputs/deploys").json() == before


def test_empty_credentials_open_nothing(shared_controller: Controller) -> None:  # noqa: F811
    """What an empty admin token used to let through (issue 14.1), with an empty secret presented."""
    ctl = shared_controller
    ctl.cli("apps", "create", "anon")
    anonymous = {"Authorization": "Basic " + base64.b64encode(b"anyone:").decode()}
    refs = httpx.get(
        f"{ctl.url}/git/anon.git/info/refs",
        params={"service": "git-receive-pack"},
        headers=anonymous,
        timeout=30,
    )
    assert refs.status_code == 401
    for headers in ({}, {"Authorization": "Bearer"}, anonymous):
        hook = httpx.post(
            f"{ctl.url}/api/v1/git/apps/anon/deploys",
            json={"old": "0" * 40, "new": "b" * 40, "ref": "refs/heads/main"},
            headers=headers,
            timeout=30,
        )
        assert hook.status_code == 401, (headers, hook.text)
        assert httpx.get(f"{ctl.url}/api/v1/apps", headers=headers, timeout=30).status_code == 401
    assert ctl.api("GET", "/apps/anon/deploys").json() == []
