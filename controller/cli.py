"""`dockyard`: a thin HTTP client of the controller's API, plus `serve` to run the controller."""

import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from controller.cli_certs import certs
from controller.cli_client import Client, client_of, fail, print_json
from controller.cli_git import apps_source, fetch_git_info, git_hook, git_info_lines, git_shell, keys

FINAL_OK = "succeeded"
CANCELLED = "cancelled"
ACTIVE = ("queued", "running")


def _follow(client: Client, deploy: dict[str, Any], *, follow: bool, as_json: bool) -> None:
    """Print the deploy's log as it happens; exit non-zero if it did not succeed."""
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


@click.group()
@click.version_option(package_name="dockyard")
def main() -> None:
    """Dockyard: deploy apps to this server with git push or a directory."""


main.add_command(certs)
main.add_command(keys)
main.add_command(git_shell)
main.add_command(git_hook)


@main.command()
def serve() -> None:
    """Run the controller (settings from DOCKYARD_* environment variables)."""
    import uvicorn

    from controller.api.app import create_app
    from controller.settings import Settings

    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=settings.listen_host,
        port=settings.listen_port,
        http="httptools",  # the C parser, not the pure-Python h11
        loop="asyncio",  # uvloop is ~10% faster here but costs ~2 MB of the 100 MB budget
        log_level="info",
        access_log=False,
    )


@main.group()
def apps() -> None:
    """Create, list, inspect and destroy apps."""


apps.add_command(apps_source)


@apps.command("create")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def apps_create(ctx: click.Context, name: str, as_json: bool) -> None:
    app = client_of(ctx).request("POST", "/apps", json={"name": name})
    print_json(app) if as_json else click.echo(f"created {app['name']} {' '.join(app['domains'])}".rstrip())


@apps.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def apps_list(ctx: click.Context, as_json: bool) -> None:
    items = client_of(ctx).request("GET", "/apps")
    if as_json:
        print_json(items)
        return
    for app in items:
        release = f"v{app['current_release']}" if app["current_release"] else "-"
        click.echo(f"{app['name']:<30} {release:<6} {' '.join(app['domains'])}")


@apps.command("info")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def apps_info(ctx: click.Context, name: str, as_json: bool) -> None:
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
        click.echo(f"container:  {container['name']} {container['state']} {container['address'] or ''}")
    for line in git_info_lines(info["git"]):
        click.echo(line)


@apps.command("destroy")
@click.argument("name")
@click.option("--force", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def apps_destroy(ctx: click.Context, name: str, force: bool) -> None:
    if not force:
        click.confirm(f"Destroy {name} with its containers, images and releases?", abort=True)
    client_of(ctx).request("DELETE", f"/apps/{name}")
    click.echo(f"destroyed {name}")


@main.command()
@click.argument("name")
@click.option("--path", "path", type=click.Path(exists=True, file_okay=False, path_type=Path), default=".")
@click.option("--follow/--no-follow", default=True, help="Stream the build log (default).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def deploy(ctx: click.Context, name: str, path: Path, follow: bool, as_json: bool) -> None:
    """Build the directory PATH (it needs a Dockerfile) and deploy it to NAME."""
    from controller.adapters.archive import pack_directory

    if not (path / "Dockerfile").is_file():
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
    _follow(client, created, follow=follow, as_json=as_json)


def _on_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@main.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def releases(ctx: click.Context, name: str, as_json: bool) -> None:
    """List the releases of NAME, newest first."""
    items = client_of(ctx).request("GET", f"/apps/{name}/releases")
    if as_json:
        print_json(items)
        return
    for release in items:
        marker = "*" if release["current"] else " "
        pruned = "  (image pruned: no rollback)" if release.get("image_available") is False else ""
        click.echo(
            f"{marker} v{release['number']:<4} {release['created_at'][:19]} "
            f"{release['image_id'][7:19]} {release['description']}{pruned}"
        )


@main.command()
@click.argument("name")
@click.option("--to", "to", type=int, default=None, help="Release number (default: the previous one).")
@click.option("--follow/--no-follow", default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def rollback(ctx: click.Context, name: str, to: int | None, follow: bool, as_json: bool) -> None:
    """Run an earlier release of NAME again, with its own config."""
    client = client_of(ctx)
    _follow(
        client,
        client.request("POST", f"/apps/{name}/rollback", json={"to": to}),
        follow=follow,
        as_json=as_json,
    )


@main.group()
def config() -> None:
    """Environment variables of an app (stored encrypted; a change makes a new release)."""


@config.command("set")
@click.argument("name")
@click.argument("pairs", nargs=-1, required=True)
@click.option("--follow/--no-follow", default=True)
@click.pass_context
def config_set(ctx: click.Context, name: str, pairs: tuple[str, ...], follow: bool) -> None:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            fail(f"expected KEY=VALUE, got {pair!r}")
        values[key] = value
    client = client_of(ctx)
    _follow(
        client,
        client.request("PATCH", f"/apps/{name}/config", json={"set": values}),
        follow=follow,
        as_json=False,
    )


@config.command("unset")
@click.argument("name")
@click.argument("keys", nargs=-1, required=True)
@click.option("--follow/--no-follow", default=True)
@click.pass_context
def config_unset(ctx: click.Context, name: str, keys: tuple[str, ...], follow: bool) -> None:
    client = client_of(ctx)
    _follow(
        client,
        client.request("PATCH", f"/apps/{name}/config", json={"unset": list(keys)}),
        follow=follow,
        as_json=False,
    )


@config.command("show")
@click.argument("name")
@click.option("--reveal", is_flag=True, help="Show the values, not masks.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def config_show(ctx: click.Context, name: str, reveal: bool, as_json: bool) -> None:
    values = client_of(ctx).request("GET", f"/apps/{name}/config", params={"reveal": str(reveal).lower()})
    if as_json:
        print_json(values)
        return
    for key in sorted(values):
        click.echo(f"{key}={values[key]}")


@main.group()
def domains() -> None:
    """Domains an app answers on."""


@domains.command("add")
@click.argument("name")
@click.argument("domain")
@click.pass_context
def domains_add(ctx: click.Context, name: str, domain: str) -> None:
    app = client_of(ctx).request("POST", f"/apps/{name}/domains", json={"domain": domain})
    click.echo(f"{name}: {' '.join(app['domains'])}")


@domains.command("remove")
@click.argument("name")
@click.argument("domain")
@click.pass_context
def domains_remove(ctx: click.Context, name: str, domain: str) -> None:
    app = client_of(ctx).request("DELETE", f"/apps/{name}/domains/{domain}")
    click.echo(f"{name}: {' '.join(app['domains']) or '(no domains)'}")


@main.group()
def ps() -> None:
    """The app's running processes."""


@ps.command("scale")
@click.argument("name")
@click.argument("formation", nargs=-1, required=True)
@click.option("--follow/--no-follow", default=True)
@click.pass_context
def ps_scale(ctx: click.Context, name: str, formation: tuple[str, ...], follow: bool) -> None:
    """Set the number of containers: `dockyard ps scale NAME web=3`."""
    counts = {}
    for item in formation:
        process, sep, count = item.partition("=")
        if not sep or not count.isdigit():
            fail(f"expected PROCESS=COUNT, got {item!r}")
        counts[process] = int(count)
    if set(counts) != {"web"}:
        fail("only the 'web' process type can be scaled")
    client = client_of(ctx)
    _follow(
        client,
        client.request("POST", f"/apps/{name}/scale", json={"web": counts["web"]}),
        follow=follow,
        as_json=False,
    )


@ps.command("restart")
@click.argument("name")
@click.option("--follow/--no-follow", default=True)
@click.pass_context
def ps_restart(ctx: click.Context, name: str, follow: bool) -> None:
    """Replace the web containers one by one, without downtime."""
    client = client_of(ctx)
    _follow(client, client.request("POST", f"/apps/{name}/restart"), follow=follow, as_json=False)


@main.command()
@click.argument("name")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new output.")
@click.option("-n", "--tail", type=int, default=100, show_default=True)
@click.pass_context
def logs(ctx: click.Context, name: str, follow: bool, tail: int) -> None:
    """Show the output of NAME's web containers."""
    for line in client_of(ctx).stream_lines(f"/apps/{name}/logs", follow=str(follow).lower(), tail=tail):
        click.echo(line)


@main.group()
def deploys() -> None:
    """Deploy jobs and their logs."""


@deploys.command("list")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def deploys_list(ctx: click.Context, name: str | None, as_json: bool) -> None:
    """List deploys, newest first (of one app, or of all)."""
    items = client_of(ctx).request("GET", f"/apps/{name}/deploys" if name else "/deploys")
    if as_json:
        print_json(items)
        return
    for item in items:
        click.echo(
            f"{item['id']} {item['created_at'][:19]} {item['app']:<20} {item['kind']:<8} "
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
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def deploys_show(ctx: click.Context, deploy_id: str, as_json: bool) -> None:
    client = client_of(ctx)
    item = client.request("GET", f"/deploys/{deploy_id}")
    if as_json:
        print_json(item)
        return
    click.echo(f"{item['id']} {item['app']} {item['kind']} {item['status']} {item.get('error') or ''}")
    for line in client.stream_lines(f"/deploys/{deploy_id}/log"):
        click.echo(line)


@main.group()
def system() -> None:
    """The controller's own disk use."""


@system.command("df")
@click.option("--json", "as_json", is_flag=True)
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
