"""`dockyard users`, `dockyard tokens` and `dockyard audit`.

dockyard users add NAME --role ROLE [--app APP ...] [--password-stdin]
dockyard users list [--json] | remove NAME | passwd NAME [--password-stdin]
dockyard users set NAME --role ROLE [--app APP ...]
dockyard tokens create NAME [--user U] [--role ROLE] [--app APP ...] [--expires 30d]
dockyard tokens list [--json] | revoke NAME|ID
dockyard audit [--app A] [--user U] [--since T] [--limit N] [--json]
"""

import sys
from collections.abc import Sequence
from typing import Any

import click

from controller.cli.client import client_of
from controller.cli.output import json_option, print_json, print_rows

ROLES = click.Choice(["admin", "developer", "viewer"])


def _stdin_password() -> str:
    return sys.stdin.readline().rstrip("\r\n")


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], *, empty: str) -> None:
    """The rows under their header; `empty` alone when there are none."""
    if rows:
        print_rows([header, *rows])
    else:
        click.echo(empty)


def _apps(value: list[str] | None) -> str:
    return ",".join(value) if value else "*"


def _when(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else "-"


@click.group()
def users() -> None:
    """People who may use this Dockyard, with a role (admin, developer, viewer) and apps."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=ROLES, required=True, help="What the user may do.")
@click.option("--app", "apps", multiple=True, help="Limit to this app (repeatable); default every app.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin; else one is generated.")
@click.pass_context
def users_add(ctx: click.Context, name: str, role: str, apps: tuple[str, ...], password_stdin: bool) -> None:
    """Add a user; a generated password is printed this once."""
    body: dict[str, Any] = {"name": name, "role": role, "apps": list(apps)}
    if password_stdin:
        body["password"] = _stdin_password()
    created = client_of(ctx).request("POST", "/users", json=body)
    click.echo(f"added {created['name']} ({created['role']}, apps {_apps(created['apps'])})")
    if created["password"]:
        click.echo(f"password (shown once): {created['password']}")


@users.command("list")
@json_option
@click.pass_context
def users_list(ctx: click.Context, as_json: bool) -> None:
    """List users with their role and apps."""
    items = client_of(ctx).request("GET", "/users")
    if as_json:
        print_json(items)
        return
    _table(
        ("NAME", "ROLE", "APPS", "CREATED"),
        [(u["name"], u["role"], _apps(u["apps"]), _when(u["created_at"])) for u in items],
        empty="no users yet (the admin token works without one): dockyard users add NAME --role admin",
    )


@users.command("remove")
@click.argument("name")
@click.pass_context
def users_remove(ctx: click.Context, name: str) -> None:
    """Remove a user and its tokens (not the last admin)."""
    client_of(ctx).request("DELETE", f"/users/{name}")
    click.echo(f"removed {name}")


@users.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin; else one is generated.")
@click.pass_context
def users_passwd(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Set a user's password; a generated one is printed this once."""
    body = {"password": _stdin_password() if password_stdin else None}
    answer = client_of(ctx).request("PUT", f"/users/{name}/password", json=body)
    click.echo(f"password of {name} changed")
    if answer["password"]:
        click.echo(f"password (shown once): {answer['password']}")


@users.command("set")
@click.argument("name")
@click.option("--role", type=ROLES, required=True, help="What the user may do from now on.")
@click.option("--app", "apps", multiple=True, help="Limit to this app (repeatable); none: every app.")
@click.pass_context
def users_set(ctx: click.Context, name: str, role: str, apps: tuple[str, ...]) -> None:
    """Change a user's role and apps (the last admin cannot be demoted)."""
    changed = client_of(ctx).request("PUT", f"/users/{name}", json={"role": role, "apps": list(apps)})
    click.echo(f"{changed['name']}: {changed['role']}, apps {_apps(changed['apps'])}")


@click.group()
def tokens() -> None:
    """API tokens: each belongs to a user (or has its own role) and may narrow it further."""


@tokens.command("create")
@click.argument("name")
@click.option("--user", help="The user the token acts for (it never has more than the user).")
@click.option("--role", type=ROLES, help="Narrow the role (needed without --user).")
@click.option("--app", "apps", multiple=True, help="Limit to this app (repeatable).")
@click.option("--expires", help="Expire after this long: 30d, 12h, 2w.")
@click.pass_context
def tokens_create(
    ctx: click.Context,
    name: str,
    user: str | None,
    role: str | None,
    apps: tuple[str, ...],
    expires: str | None,
) -> None:
    """Create a token and print it this once (only its hash is stored)."""
    body = {"name": name, "user": user, "role": role, "apps": list(apps), "expires": expires}
    created = client_of(ctx).request("POST", "/tokens", json=body)
    click.echo(f"created token {created['name']} (id {created['id']}); it is shown this once:", err=True)
    click.echo(created["token"])


@tokens.command("list")
@json_option
@click.pass_context
def tokens_list(ctx: click.Context, as_json: bool) -> None:
    """List tokens: name, user, role, apps, created, last used, expires (never the secret)."""
    items = client_of(ctx).request("GET", "/tokens")
    if as_json:
        print_json(items)
        return
    rows: list[tuple[str, ...]] = []
    for t in items:
        state = f"revoked {_when(t['revoked_at'])}" if t["revoked_at"] else _when(t["expires_at"])
        rows.append(
            (
                t["id"],
                t["name"],
                t["user"] or "-",
                t["role"] or "(user's)",
                _apps(t["apps"]),
                _when(t["created_at"]),
                _when(t["last_used_at"]),
                state,
            )
        )
    header = ("ID", "NAME", "USER", "ROLE", "APPS", "CREATED", "LAST USED", "EXPIRES")
    _table(header, rows, empty="no tokens: dockyard tokens create NAME")


@tokens.command("revoke")
@click.argument("token")
@click.pass_context
def tokens_revoke(ctx: click.Context, token: str) -> None:
    """Revoke a token by name or id: refused from its next request on."""
    revoked = client_of(ctx).request("DELETE", f"/tokens/{token}")
    click.echo(f"revoked {revoked['name']}")


@click.command("audit")
@click.option("--app", help="Only this app's events.")
@click.option("--user", help="Only this actor's events (a user or token name).")
@click.option("--since", help="Only events from this time on (ISO 8601, UTC when no zone).")
@click.option("--limit", type=int, default=200, show_default=True, help="At most this many events.")
@json_option
@click.pass_context
def audit(
    ctx: click.Context, app: str | None, user: str | None, since: str | None, limit: int, as_json: bool
) -> None:
    """Who changed what, newest first: time, actor, action, app, outcome, source address."""
    params = {k: v for k, v in {"app": app, "user": user, "since": since, "limit": limit}.items() if v}
    items = client_of(ctx).request("GET", "/audit", params=params)
    if as_json:
        print_json(items)
        return
    _table(
        ("TIME", "ACTOR", "ACTION", "APP", "OUTCOME", "SOURCE"),
        [
            (_when(e["at"]), e["actor"], e["action"], e["app"] or "-", e["outcome"], e["source"] or "-")
            for e in items
        ],
        empty="nothing recorded that matches",
    )
