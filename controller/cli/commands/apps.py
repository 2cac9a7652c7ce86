"""`dockyard apps`: create, list, inspect and destroy apps."""

import click

from controller.cli.client import client_of
from controller.cli.commands.git_source import apps_source, fetch_git_info, git_info_lines
from controller.cli.commands.ps import crash_lines
from controller.cli.output import json_option, print_json


@click.group()
def apps() -> None:
    """Create, list, inspect and destroy apps."""


apps.add_command(apps_source)


@apps.command("create")
@click.argument("name")
@json_option
@click.pass_context
def apps_create(ctx: click.Context, name: str, as_json: bool) -> None:
    """Create the app NAME (it gets NAME.<base domain> when one is set)."""
    app = client_of(ctx).request("POST", "/apps", json={"name": name})
    print_json(app) if as_json else click.echo(f"created {app['name']} {' '.join(app['domains'])}".rstrip())


@apps.command("list")
@json_option
@click.pass_context
def apps_list(ctx: click.Context, as_json: bool) -> None:
    """List the apps with their current release and domains."""
    items = client_of(ctx).request("GET", "/apps")
    if as_json:
        print_json(items)
        return
    if not items:
        click.echo("no apps yet: dockyard apps create NAME")
        return
    click.echo(f"{'NAME':<30} {'RELEASE':<7} DOMAINS")
    for app in items:
        release = f"v{app['current_release']}" if app["current_release"] else "-"
        click.echo(f"{app['name']:<30} {release:<7} {' '.join(app['domains'])}")


@apps.command("info")
@click.argument("name")
@json_option
@click.pass_context
def apps_info(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show NAME's status, release, containers, URLs and git settings."""
    info = client_of(ctx).request("GET", f"/apps/{name}")
    info["git"] = fetch_git_info(ctx, name)
    if as_json:
        print_json(info)
        return
    release = info["release"]
    click.echo(f"app:        {info['name']}")
    click.echo(f"status:     {info['status']}")
    click.echo(f"release:    {'v' + str(release['number']) if release else '-'}")
    click.echo(f"web scale:  {info['web_scale']}")
    click.echo(f"urls:       {' '.join(info['urls']) or '-'}")
    for container in info["containers"]:
        click.echo(
            f"container:  {container['name']} {container['state']} {container['address'] or ''}".rstrip()
        )
        click.echo(f"            restarts {container['restarts']}{_exit_text(container['exit_code'])}")
    for line in crash_lines(info["crashes"]):
        click.echo(line)
    for line in git_info_lines(info["git"]):
        click.echo(line)


def _exit_text(code: int | None) -> str:
    return "" if code is None else f", exited with code {code}"


@apps.command("destroy")
@click.argument("name")
@click.option("--force", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def apps_destroy(ctx: click.Context, name: str, force: bool) -> None:
    """Delete NAME with its containers, images, releases and routes."""
    if not force:
        click.confirm(f"Destroy {name} with its containers, images and releases?", abort=True)
    client_of(ctx).request("DELETE", f"/apps/{name}")
    click.echo(f"destroyed {name}")
