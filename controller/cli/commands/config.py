"""`dockyard config`: an app's environment variables."""

import click

from controller.cli.client import client_of
from controller.cli.commands.deploys import follow_job
from controller.cli.output import fail, follow_option, json_option, print_json


@click.group()
def config() -> None:
    """Environment variables of an app (stored encrypted; a change makes a new release)."""


@config.command("set")
@click.argument("name")
@click.argument("pairs", nargs=-1, required=True)
@follow_option()
@click.pass_context
def config_set(ctx: click.Context, name: str, pairs: tuple[str, ...], follow: bool) -> None:
    """Set KEY=VALUE pairs in NAME's environment (a new release when it has one)."""
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            fail(f"expected KEY=VALUE, got {pair!r}")
        values[key] = value
    client = client_of(ctx)
    follow_job(
        client,
        client.request("PATCH", f"/apps/{name}/config", json={"set": values}),
        follow=follow,
        as_json=False,
    )


@config.command("unset")
@click.argument("name")
@click.argument("keys", nargs=-1, required=True)
@follow_option()
@click.pass_context
def config_unset(ctx: click.Context, name: str, keys: tuple[str, ...], follow: bool) -> None:
    """Remove KEYS from NAME's environment (a new release when it has one)."""
    client = client_of(ctx)
    follow_job(
        client,
        client.request("PATCH", f"/apps/{name}/config", json={"unset": list(keys)}),
        follow=follow,
        as_json=False,
    )


@config.command("show")
@click.argument("name")
@click.option("--reveal", is_flag=True, help="Show the values, not masks.")
@json_option
@click.pass_context
def config_show(ctx: click.Context, name: str, reveal: bool, as_json: bool) -> None:
    """Show NAME's environment variables, values masked unless --reveal."""
    values = client_of(ctx).request("GET", f"/apps/{name}/config", params={"reveal": str(reveal).lower()})
    if as_json:
        print_json(values)
        return
    for key in sorted(values):
        click.echo(f"{key}={values[key]}")
