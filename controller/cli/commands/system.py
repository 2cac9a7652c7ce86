"""`dockyard system`: the controller's own disk use, and pruning it."""

import click

from controller.cli.client import client_of
from controller.cli.output import json_option, print_json


@click.group()
def system() -> None:
    """The controller's own disk use."""


@system.command("df")
@json_option
@click.pass_context
def system_df(ctx: click.Context, as_json: bool) -> None:
    """What Dockyard's images, containers and data dir use on disk."""
    report = client_of(ctx).request("GET", "/system/df")
    if as_json:
        print_json(report)
        return
    mib = 1024 * 1024
    click.echo(f"images:      {report['images']:>5}  {report['image_bytes'] / mib:10.1f} MiB")
    click.echo(f"containers:  {report['containers']:>5}  {report['container_bytes'] / mib:10.1f} MiB")
    click.echo(f"data dir:           {report['data_dir_bytes'] / mib:10.1f} MiB")
    click.echo(f"disk used:          {report['disk_used_percent']:9.1f} %")


@system.command("prune")
@click.pass_context
def system_prune(ctx: click.Context) -> None:
    """Remove Dockyard's images beyond each app's retention, of deleted apps, and dangling build layers."""
    report = client_of(ctx).request("POST", "/system/prune")
    layers = len(report.get("removed_layers", []))
    click.echo(f"removed {len(report['removed_images'])} image(s) and {layers} build layer(s)")
