"""`dockyard domains`: the domains an app answers on."""

import click

from controller.cli.client import client_of
from controller.cli.output import AppOrReport, json_option, print_json, print_rows


@click.group(cls=AppOrReport)
def domains() -> None:
    """Domains an app answers on (`dockyard domains APP` lists them)."""


@domains.command("report")
@click.argument("name")
@json_option
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
    print_rows(rows)


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
