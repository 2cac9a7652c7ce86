"""`dockyard`: a thin HTTP client of the controller's API, plus `serve` to run the controller."""

import ipaddress
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from controller.cli_certs import certs
from controller.cli_client import AppOrReport, Client, client_of, fail, print_json
from controller.cli_git import apps_source, fetch_git_info, git_hook, git_info_lines, git_shell, keys
from controller.cli_service import service

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
main.add_command(service)


@main.command()
def serve() -> None:
    """Run the controller (settings from DOCKYARD_* environment variables)."""
    from controller.api.app import create_app
    from controller.api.server import serve as serve_api
    from controller.domain.errors import DockyardError
    from controller.settings import Settings
    from controller.wiring import check_admin_token

    settings = Settings()
    try:
        check_admin_token(settings)
    except DockyardError as exc:
        fail(f"refusing to start: {exc}")
    from controller.wiring_keeper import start_keeper

    # The keeper starts once the services have (a controller that refuses to start leaves none).
    on_started = (lambda: start_keeper(settings)) if settings.keeper else None
    serve_api(create_app(settings, on_started=on_started), settings)


@main.command()
def keeper() -> None:
    """Run the keeper: it starts again serving containers stopped behind Dockyard's back.

    `dockyard serve` starts it (one per data dir); it keeps going while the controller is
    down, and exits when its data dir is gone.
    """
    from controller.settings import Settings
    from controller.wiring_keeper import configure_keeper_logging, run_keeper

    configure_keeper_logging()
    sys.exit(run_keeper(Settings()))


@main.group()
def apps() -> None:
    """Create, list, inspect and destroy apps."""


apps.add_command(apps_source)


@apps.command("create")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
@click.pass_context
def apps_create(ctx: click.Context, name: str, as_json: bool) -> None:
    """Create the app NAME (it gets NAME.<base domain> when one is set)."""
    app = client_of(ctx).request("POST", "/apps", json={"name": name})
    print_json(app) if as_json else click.echo(f"created {app['name']} {' '.join(app['domains'])}".rstrip())


@apps.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
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
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
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
    for line in _crash_lines(info["crashes"]):
        click.echo(line)
    for line in git_info_lines(info["git"]):
        click.echo(line)


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


@main.command()
@click.argument("name")
@click.option(
    "--path",
    "path",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=".",
    help="The directory to build (default: the current one).",
)
@click.option("--follow/--no-follow", default=True, help="Stream the build log (default).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
@click.pass_context
def deploy(ctx: click.Context, name: str, path: Path, follow: bool, as_json: bool) -> None:
    """Build the directory PATH (it needs a Dockerfile) and deploy it to NAME."""
    from controller.adapters.docker.context import pack_directory

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
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
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


@main.command()
@click.argument("name")
@click.option("--to", "to", type=int, default=None, help="Release number (default: the previous one).")
@click.option("--follow/--no-follow", default=True, help="Stream the job's log until it ends (default).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
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
@click.option("--follow/--no-follow", default=True, help="Stream the job's log until it ends (default).")
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
    _follow(
        client,
        client.request("PATCH", f"/apps/{name}/config", json={"set": values}),
        follow=follow,
        as_json=False,
    )


@config.command("unset")
@click.argument("name")
@click.argument("keys", nargs=-1, required=True)
@click.option("--follow/--no-follow", default=True, help="Stream the job's log until it ends (default).")
@click.pass_context
def config_unset(ctx: click.Context, name: str, keys: tuple[str, ...], follow: bool) -> None:
    """Remove KEYS from NAME's environment (a new release when it has one)."""
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
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
@click.pass_context
def config_show(ctx: click.Context, name: str, reveal: bool, as_json: bool) -> None:
    """Show NAME's environment variables, values masked unless --reveal."""
    values = client_of(ctx).request("GET", f"/apps/{name}/config", params={"reveal": str(reveal).lower()})
    if as_json:
        print_json(values)
        return
    for key in sorted(values):
        click.echo(f"{key}={values[key]}")


@main.group(cls=AppOrReport)
def domains() -> None:
    """Domains an app answers on (`dockyard domains APP` lists them)."""


@domains.command("report")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
@click.pass_context
def domains_report(ctx: click.Context, name: str, as_json: bool) -> None:
    """List NAME's domains with their URL and certificate state."""
    items = client_of(ctx).request("GET", f"/apps/{name}/domains")
    if as_json:
        print_json(items)
        return
    if not items:
        click.echo(f"{name} has no domains yet: dockyard domains add {name} DOMAIN")
        return
    rows = [("DOMAIN", "CERTIFICATE", "URL")]
    for item in items:
        state = item["certificate"]
        if state == "valid" and item["valid_until"]:
            state += f" until {item['valid_until'][:10]}"
        elif state == "failing" and item["last_error"]:
            state += f": {item['last_error']}"
        rows.append((item["domain"], state, item["url"]))
    _print_rows(rows)


@domains.command("add")
@click.argument("name")
@click.argument("domain")
@click.pass_context
def domains_add(ctx: click.Context, name: str, domain: str) -> None:
    """Route DOMAIN to NAME (and order its certificate when ACME is on)."""
    app = client_of(ctx).request("POST", f"/apps/{name}/domains", json={"domain": domain})
    click.echo(f"{name}: {' '.join(app['domains'])}")


@domains.command("remove")
@click.argument("name")
@click.argument("domain")
@click.pass_context
def domains_remove(ctx: click.Context, name: str, domain: str) -> None:
    """Stop routing DOMAIN to NAME."""
    app = client_of(ctx).request("DELETE", f"/apps/{name}/domains/{domain}")
    click.echo(f"{name}: {' '.join(app['domains']) or '(no domains)'}")


@main.group(cls=AppOrReport)
def ps() -> None:
    """The app's containers (`dockyard ps APP` lists them), scale and restart."""


@ps.command("report")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
@click.pass_context
def ps_report(ctx: click.Context, name: str, as_json: bool) -> None:
    """List NAME's containers: type, release, state, health, restarts, last exit, uptime, address."""
    report = client_of(ctx).request("GET", f"/apps/{name}/ps")
    if as_json:
        print_json(report)
        return
    release = f"v{report['current_release']}" if report["current_release"] else "-"
    click.echo(f"{name}: {report['status']}, release {release}, web scale {report['web_scale']}")
    if not report["containers"]:
        click.echo("no containers")
    else:
        rows = [("TYPE", "RELEASE", "STATE", "HEALTH", "RESTARTS", "EXIT", "UPTIME", "ADDRESS", "NAME")]
        for c in report["containers"]:
            running = c["state"] == "running"
            rows.append(
                (
                    c["process"],
                    f"v{c['release']}",
                    c["state"],
                    c["health"] or "-",
                    str(c["restarts"]),
                    "-" if c["exit_code"] is None else str(c["exit_code"]),
                    _uptime(c["started_at"]) if running else "-",
                    c["address"] or "-",
                    c["name"],
                )
            )
        _print_rows(rows)
    for line in _crash_lines(report["crashes"]):
        click.echo(line)


def _print_rows(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
        )


def _uptime(started_at: str | None) -> str:
    if not started_at:
        return "-"
    seconds = max(0, int((datetime.now(UTC) - datetime.fromisoformat(started_at)).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _exit_text(code: int | None) -> str:
    return "" if code is None else f", exited with code {code}"


def _crash_lines(crashes: list[dict[str, Any]]) -> list[str]:
    """What `apps info` and `ps` say about recent crashes (the newest first)."""
    if not crashes:
        return []
    last = crashes[0]
    return [
        f"crashes:    {len(crashes)} in the last 2 minutes; last: {last['container']} exited with "
        f"code {last['exit_code']} at {last['at'][11:19]} UTC (dockyard logs APP shows its output)"
    ]


@ps.command("scale")
@click.argument("name")
@click.argument("formation", nargs=-1, required=True)
@click.option("--follow/--no-follow", default=True, help="Stream the job's log until it ends (default).")
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
@click.option("--follow/--no-follow", default=True, help="Stream the job's log until it ends (default).")
@click.pass_context
def ps_restart(ctx: click.Context, name: str, follow: bool) -> None:
    """Replace the web containers one by one, without downtime."""
    client = client_of(ctx)
    _follow(client, client.request("POST", f"/apps/{name}/restart"), follow=follow, as_json=False)


@main.command()
@click.argument("name")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new output.")
@click.option("-n", "--tail", type=int, default=100, show_default=True, help="Lines of past output to show.")
@click.option("-t", "--timestamps", is_flag=True, help="Start each line with the time Docker received it.")
@click.option("--proxy", is_flag=True, help="Show the app's nginx access log instead of its output.")
@click.pass_context
def logs(ctx: click.Context, name: str, follow: bool, tail: int, timestamps: bool, proxy: bool) -> None:
    """Show the output of NAME's web containers (without Dockyard's health-check requests)."""
    params = {"follow": str(follow).lower(), "tail": tail, "timestamps": str(timestamps).lower()}
    if proxy:
        params["proxy"] = "true"
    for line in client_of(ctx).stream_lines(f"/apps/{name}/logs", **params):
        click.echo(line)


@main.group()
def deploys() -> None:
    """Deploy jobs and their logs."""


@deploys.command("list")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
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
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
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


@main.group()
def system() -> None:
    """The controller's own disk use."""


@system.command("df")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
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
