"""A fixed controller API (httpx.MockTransport) for the TUI's snapshot and unit tests."""

from datetime import UTC, datetime
from typing import Any

import httpx

from tui.app import DockyardApp
from tui.client import Client, Target

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
HOSTILE = "\x1b[2J[bold red]x[/] <script>"


def _container(app: str, n: int, state: str = "running") -> dict[str, Any]:
    return {
        "id": f"{app}-c{n}",
        "name": f"dockyard-{app}-web-{n}",
        "release": 3,
        "process": "web",
        "address": f"172.20.0.{n + 1}",
        "state": state,
        "health": "healthy" if state == "running" else None,
        "restarts": 0,
        "exit_code": None,
        "started_at": "2026-12-01T11:00:00+00:00",
    }


APPS: dict[str, dict[str, Any]] = {
    "blog": {"domains": ["blog.example.com"], "web_scale": 2, "current_release": 3, "status": "running"},
    "shop": {
        "domains": ["shop.example.com", "www.shop.example.com"],
        "web_scale": 1,
        "current_release": 7,
        "status": "crashed",
    },
    "[red]evil[/]": {"domains": [], "web_scale": 1, "current_release": None, "status": "not-deployed"},
}
DEPLOYS: list[dict[str, Any]] = [
    {
        "id": "d-blog-3",
        "app": "blog",
        "kind": "build",
        "status": "succeeded",
        "release_number": 3,
        "created_at": "2026-12-01T11:00:00+00:00",
        "started_at": "2026-12-01T11:00:00+00:00",
        "finished_at": "2026-12-01T11:00:42+00:00",
        "error": None,
        "description": "git push abc123",
    },
    {
        "id": "d-shop-8",
        "app": "shop",
        "kind": "build",
        "status": "running",
        "release_number": None,
        "created_at": "2026-12-01T11:59:30+00:00",
        "started_at": "2026-12-01T11:59:30+00:00",
        "finished_at": None,
        "error": None,
        "description": "git push def456",
    },
]
LOG = ["Step 1/3 : FROM busybox", HOSTILE, "Successfully built 0123456789ab"]


def details(name: str) -> dict[str, Any]:
    app = APPS[name]
    count = app["web_scale"] if app["current_release"] else 0
    state = "running" if app["status"] == "running" else "exited"
    return {
        "name": name,
        "created_at": "2026-11-01T00:00:00+00:00",
        **app,
        "urls": [],
        "release": None,
        "containers": [_container(name, n, state) for n in range(1, count + 1)],
        "crashes": [],
    }


ACTIONS: list[tuple[str, str, str]] = []  # (method, path, body) of every request that acts
# The tokens this API knows, as GET /whoami answers them.
WHOAMI: dict[str, dict[str, Any]] = {
    "good": {
        "name": "bootstrap-admin",
        "role": "admin",
        "apps": None,
        "actions": ["read", "operate", "administer"],
    },
    "viewer": {"name": "vera-cli", "role": "viewer", "apps": None, "actions": ["read"]},
    "shop-dev": {"name": "dave-cli", "role": "developer", "apps": ["shop"], "actions": ["read", "operate"]},
}


def handler(request: httpx.Request) -> httpx.Response:
    path = request.url.path.removeprefix("/api/v1")
    if request.method != "GET":
        ACTIONS.append((request.method, path, request.content.decode()))
    parts = path.strip("/").split("/")
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    if token not in WHOAMI:
        return httpx.Response(401, json={"detail": "invalid or missing API token"})
    if path == "/whoami":
        return httpx.Response(200, json={"kind": "token", "user": None, "app": None, **WHOAMI[token]})
    if path == "/apps":
        return httpx.Response(
            200,
            json=[
                {
                    k: v
                    for k, v in details(n).items()
                    if k in ("name", "domains", "web_scale", "current_release", "created_at")
                }
                for n in APPS
            ],
        )
    if path == "/deploys":
        return httpx.Response(200, json=DEPLOYS)
    if parts[0] == "deploys" and parts[-1] == "log":
        return httpx.Response(200, text="\n".join(LOG) + "\n")
    if parts[0] == "apps" and len(parts) >= 2 and parts[1] in APPS:
        name = parts[1]
        tail = parts[2] if len(parts) > 2 else ""
        if request.method != "GET" and tail in ("scale", "rollback", "restart", "config"):
            return httpx.Response(202, json={**DEPLOYS[0], "id": "d-new", "kind": tail, "status": "queued"})
        if tail == "":
            return httpx.Response(200, json=details(name))
        if tail == "releases":
            return httpx.Response(
                200,
                json=[
                    {
                        "number": n,
                        "image_id": "sha256:0",
                        "source_digest": "x",
                        "config_keys": ["SECRET"],
                        "port": 8080,
                        "healthchecks": 1,
                        "created_at": f"2026-12-01T0{n}:00:00+00:00",
                        "deploy_id": f"d{n}",
                        "description": f"build {n}" if n != 2 else "config SECRET",
                        "current": n == 3,
                    }
                    for n in (3, 2, 1)
                ],
            )
        if tail == "domains":
            return httpx.Response(
                200,
                json=[
                    {
                        "domain": d,
                        "url": f"https://{d}",
                        "certificate": "valid",
                        "valid_until": "2027-03-01T00:00:00+00:00",
                        "last_error": None,
                    }
                    for d in APPS[name]["domains"]
                ],
            )
        if tail == "config":
            reveal = request.url.params.get("reveal") == "true"
            return httpx.Response(
                200,
                json={
                    "DATABASE_URL": "postgres://u:p@db/x" if reveal else "********",
                    "SECRET": "s3cret" if reveal else "********",
                },
            )
        if tail == "logs":
            return httpx.Response(200, text="\n".join(LOG) + "\n")
        if tail == "deploys":
            return httpx.Response(200, json=[d for d in DEPLOYS if d["app"] == name])
    return httpx.Response(404, json={"detail": "Not Found"})


def fake_client(token: str = "good") -> Client:
    return Client(
        Target("http://dockyard.test", token, "the token in DOCKYARD_TOKEN was refused"),
        transport=httpx.MockTransport(handler),
    )


def fake_app(token: str = "good") -> DockyardApp:
    return DockyardApp(fake_client(token), live=False, clock=lambda: NOW)
