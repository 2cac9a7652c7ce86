"""`dockyard deploy`, `redeploy`, `rollback`, `releases` and `deploys`: deploy jobs and their logs."""

import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from controller.cli.client import Client, client_of
from controller.cli.output import fail, follow_option, json_option, print_json
from controller.domain.build_context import has_dockerfile

FINAL_OK = "succeeded"
CANCELLED = "cancelled"
ACTIVE = ("queued", "running")


def follow_job(client: Client, deploy: dict[str, Any], *, follow: bool, as_json: bool) -> None:
    """Print the job's log as it happens; exit non-zero if it did not succeed."""
    if not follow:
        print_json(deploy) if as_json else click.echo(f"queued deploy {deploy['id']}")
        return
    for line in client.stream_lines(f"/deploys/{deploy['id']}/log", follow="true"):
        if not as_json:
            click.echo(line)
    final = client.request("GET", f"/deploys/{deploy['id']}")
    if as_json:
        print_json(final)
    if final["status"] != FINAL_OK:
        fail(f"deploy {final['id']} {final['status']}: {final.get('error') or ''}".rstrip(": "))


@click.command()
@click.argument("name")
@click.option(
    "--path",
    "path",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=".",
    help="The directory to build (default: the current one).",
)
@follow_option("Stream the build log (default).")
@json_option
@click.pass_context
def deploy(ctx: click.Context, name: str, path: Path, follow: bool, as_json: bool) -> None:
    """Build the directory PATH (it needs a Dockerfile) and deploy it to NAME."""
    from controller.adapters.docker.context import pack_directory

    if not has_dockerfile(path):
        fail(f"{path} has no Dockerfile")
    client = client_of(ctx)
    compress = not _on_loopback(client.url)  # compressing costs more than it saves on loopback
    archive = pack_directory(path, compress=compress)
    if not as_json:
        click.echo(f"-----> Uploading {path} ({len(archive) / 1024:.0f} KiB)")
    content_type = "application/gzip" if compress else "application/x-tar"
    created = client.request(
        "POST", f"/apps/{name}/deploys", content=archive, headers={"Content-Type": content_type}
    )
    follow_job(client, created, follow=follow, as_json=as_json)


def _on_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command()
@click.argument("name")
@follow_option()
@json_option
@click.pass_context
def redeploy(ctx: click.Context, name: str, follow: bool, as_json: bool) -> None:
    """Build NAME's current source again and deploy it ("deploy now").

    The source is the head of the branch of its source repository (`dockyard apps source`),
    else of the deploy branch last pushed to it with git. A directory deployed with
    `dockyard deploy --path` is not kept: deploy it again that way.
    """
    client = client_of(ctx)
    follow_job(client, client.request("POST", f"/apps/{name}/redeploy"), follow=follow, as_json=as_json)


@click.command()
@click.argument("name")
@json_option
@click.pass_context
def releases(ctx: click.Context, name: str, as_json: bool) -> None:
    """List the releases of NAME, newest first."""
    items = client_of(ctx).request("GET", f"/apps/{name}/releases")
    if as_json:
        print_json(items)
        return
    if not items:
        click.echo(f"{name} has no releases yet: dockyard deploy {name}")
        return
    click.echo(f"  {'REL':<5} {'CREATED':<19} {'IMAGE':<12} DESCRIPTION   (* = current)")
    for release in items:
        marker = "*" if release["current"] else " "
        pruned = "  (image pruned: no rollback)" if release.get("image_available") is False else ""
        click.echo(
            f"{marker} v{release['number']:<4} {release['created_at'][:19]} "
            f"{release['image_id'][7:19]} {release['description']}{pruned}"
        )


@click.command()
@click.argument("name")
@click.option("--to", "to", type=int, default=None, help="Release number (default: the previous one).")
@follow_option()
@json_option
@click.pass_context
def rollback(ctx: click.Context, name: str, to: int | None, follow: bool, as_json: bool) -> None:
    """Run an earlier release of NAME again, with its own config."""
    client = client_of(ctx)
    follow_job(
        client,
        client.request("POST", f"/apps/{name}/rollback", json={"to": to}),
        follow=follow,
        as_json=as_json,
    )


@click.group()
def deploys() -> None:
    """Deploy jobs and their logs."""


@deploys.command("list")
@click.argument("name", required=False)
@json_option
@click.pass_context
def deploys_list(ctx: click.Context, name: str | None, as_json: bool) -> None:
    """List deploys, newest first (of one app, or of all)."""
    items = client_of(ctx).request("GET", f"/apps/{name}/deploys" if name else "/deploys")
    if as_json:
        print_json(items)
        return
    if not items:
        click.echo(f"no deploys of {name} yet" if name else "no deploys yet")
        return
    click.echo(f"{'ID':<16} {'CREATED':<19} {'APP':<20} {'KIND':<8} {'STATUS':<11} DESCRIPTION")
    for item in items:
        click.echo(
            f"{item['id']:<16} {item['created_at'][:19]} {item['app']:<20} {item['kind']:<8} "
            f"{item['status']:<11} {item['description']}"
        )


@deploys.command("cancel")
@click.argument("deploy_id")
@click.pass_context
def deploys_cancel(ctx: click.Context, deploy_id: str) -> None:
    """Cancel a queued deploy, or stop a running one before it switches traffic.

    Waits for a running deploy to stop; exits non-zero unless it ends up cancelled.
    """
    client = client_of(ctx)
    item = client.request("POST", f"/deploys/{deploy_id}/cancel")
    if item["status"] in ACTIVE:
        click.echo(f"{item['id']} cancelling (it stops at its next step)")
        for _ in client.stream_lines(f"/deploys/{item['id']}/log", follow="true"):
            pass  # the log ends when the deploy does
        item = client.request("GET", f"/deploys/{item['id']}")
    if item["status"] != CANCELLED:
        fail(f"deploy {item['id']} {item['status']}: it finished before the cancel took effect")
    click.echo(f"{item['id']} cancelled")


@deploys.command("show")
@click.argument("deploy_id")
@json_option
@click.pass_context
def deploys_show(ctx: click.Context, deploy_id: str, as_json: bool) -> None:
    """Show a deploy job's status and its stored log."""
    client = client_of(ctx)
    item = client.request("GET", f"/deploys/{deploy_id}")
    if as_json:
        print_json(item)
        return
    click.echo(f"{item['id']} {item['app']} {item['kind']} {item['status']} {item.get('error') or ''}")
    for line in client.stream_lines(f"/deploys/{deploy_id}/log"):
        click.echo(line)
