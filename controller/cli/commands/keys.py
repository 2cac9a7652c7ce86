"""`dockyard keys`: the SSH keys that may `git push`."""

import os
import sys
from pathlib import Path

import click

from controller.cli.client import client_of
from controller.cli.output import json_option, print_json


@click.group()
def keys() -> None:
    """SSH keys that may `git push` (as ssh://dockyard@HOST/<app>.git)."""


@keys.command("add")
@click.argument("name")
@click.argument("key")
@click.option("--user", help="Push with this user's rights (its role and apps); default an admin's.")
@click.pass_context
def keys_add(ctx: click.Context, name: str, key: str, user: str | None) -> None:
    """Allow KEY to push: the key text, a .pub file, or - for stdin."""
    if key == "-":
        text = sys.stdin.read()
    elif os.path.isfile(key):
        text = Path(key).read_text()
    else:
        text = key
    added = client_of(ctx).request("POST", "/keys", json={"name": name, "public_key": text, "user": user})
    click.echo(f"added {added['name']} {added['key_type']} {added['fingerprint']}")


@keys.command("list")
@json_option
@click.pass_context
def keys_list(ctx: click.Context, as_json: bool) -> None:
    """List the SSH keys that may push, with their fingerprints."""
    items = client_of(ctx).request("GET", "/keys")
    if as_json:
        print_json(items)
        return
    if not items:
        click.echo("no SSH keys yet: dockyard keys add NAME ~/.ssh/id_ed25519.pub")
        return
    click.echo(f"{'NAME':<24} {'OWNER':<16} {'TYPE':<12} FINGERPRINT")
    for item in items:
        owner = item.get("owner") or "(admin)"
        click.echo(f"{item['name']:<24} {owner:<16} {item['key_type']:<12} {item['fingerprint']}")


@keys.command("remove")
@click.argument("name")
@click.pass_context
def keys_remove(ctx: click.Context, name: str) -> None:
    """Stop the key NAME from pushing."""
    client_of(ctx).request("DELETE", f"/keys/{name}")
    click.echo(f"removed {name}")
