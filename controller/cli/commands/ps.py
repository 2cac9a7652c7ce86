"""`dockyard ps` and `dockyard logs`: an app's containers, their scale, restarts and output."""

import time
from datetime import UTC, datetime
from typing import Any

import click

from controller.cli.client import client_of
from controller.cli.commands.deploys import follow_job
from controller.cli.output import AppOrReport, fail, follow_option, json_option, print_json, print_rows


@click.group(cls=AppOrReport)
def ps() -> None:
    """The app's containers (`dockyard ps APP` lists them), scale and restart."""


@ps.command("report")
@click.argument("name")
@json_option
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
        print_rows(rows)
    for line in crash_lines(report["crashes"]):
        click.echo(line)


CPU_SAMPLE_GAP = 1.0  # seconds between the two stats requests CPU % is measured over


@ps.command("stats")
@click.argument("name")
@json_option
@click.pass_context
def ps_stats(ctx: click.Context, name: str, as_json: bool) -> None:
    """NAME's containers' CPU, memory and restarts, and its requests and 5xx per second."""
    client = client_of(ctx)
    stats = client.request("GET", f"/apps/{name}/stats")
    if any(c["state"] == "running" and c["cpu_percent"] is None for c in stats["containers"]):
        time.sleep(CPU_SAMPLE_GAP)  # the first request had no earlier sample to measure against
        stats = client.request("GET", f"/apps/{name}/stats")
    if as_json:
        print_json(stats)
        return
    if stats["requests_per_second"] is not None:
        click.echo(
            f"{name}: {stats['requests_per_second']:.2f} requests/s, {stats['errors_per_second']:.2f} 5xx/s "
            f"over the last {stats['window_seconds']:.0f} s"
        )
    if not stats["containers"]:
        click.echo("no containers")
        return
    rows = [("TYPE", "RELEASE", "STATE", "CPU", "MEMORY", "LIMIT", "RESTARTS", "NAME")]
    for c in stats["containers"]:
        cpu = "-" if c["cpu_percent"] is None else f"{c['cpu_percent']:.1f}%"
        rows.append(
            (
                c["process"],
                f"v{c['release']}",
                c["state"],
                cpu,
                _mib(c["memory_used_bytes"]),
                _mib(c["memory_limit_bytes"]),
                str(c["restarts"]),
                c["name"],
            )
        )
    print_rows(rows)


def _mib(size: int | None) -> str:
    return "-" if size is None else f"{size / 2**20:.1f} MiB"


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


def crash_lines(crashes: list[dict[str, Any]]) -> list[str]:
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
@follow_option()
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
    follow_job(
        client,
        client.request("POST", f"/apps/{name}/scale", json={"web": counts["web"]}),
        follow=follow,
        as_json=False,
    )


@ps.command("restart")
@click.argument("name")
@follow_option()
@click.pass_context
def ps_restart(ctx: click.Context, name: str, follow: bool) -> None:
    """Replace the web containers one by one, without downtime."""
    client = client_of(ctx)
    follow_job(client, client.request("POST", f"/apps/{name}/restart"), follow=follow, as_json=False)


@click.command()
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
