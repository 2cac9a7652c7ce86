"""`dockyard certs`: an app's HTTPS certificate, through the controller's API.

dockyard certs APP [--json]          status per domain (same as `certs status APP`)
dockyard certs issue APP             order now if a domain lacks a certificate
dockyard certs renew APP [--force]   renew when due; --force always
dockyard certs redirect APP on|off   HTTP -> HTTPS redirect of the certified domains
"""

from datetime import UTC, datetime
from typing import Any

import click

from controller.cli.client import client_of
from controller.cli.output import AppOrCommand, json_option, print_error, print_json, print_rows


def _when(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else "-"


def _days_left(not_after: str) -> int:
    return (datetime.fromisoformat(not_after) - datetime.now(UTC)).days


def _print_status(report: dict[str, Any]) -> None:
    cert = report["certificate"]
    redirect = "on" if report["https_redirect"] else "off"
    if cert:
        click.echo(
            f"certificate {cert['serial']} for {', '.join(cert['domains'])}: valid until "
            f"{_when(cert['not_after'])} ({_days_left(cert['not_after'])} days); HTTP redirect {redirect}"
        )
    else:
        click.echo(f"no certificate yet; served over HTTP (redirect {redirect} once there is one)")
    if not report["acme_enabled"]:
        click.echo("ACME is off: set DOCKYARD_ACME_EMAIL on the controller to issue certificates")
    rows = [("DOMAIN", "HTTPS", "VALID UNTIL", "LAST ATTEMPT", "LAST ERROR")]
    for item in report["domains"]:
        error = f"{item['error_code']}: {item['last_error']}" if item["last_error"] else "-"
        if item["last_error"] and item["next_attempt"]:
            error += f" (next try {_when(item['next_attempt'])})"
        rows.append(
            (
                item["domain"],
                "yes" if item["https"] else "no",
                _when(item["valid_until"]),
                _when(item["last_attempt"]),
                error,
            )
        )
    print_rows(rows)


def _print_result(result: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print_json(result)
    else:
        verdict = (
            "issued a new certificate" if result["issued"] else f"no new certificate ({result['reason']})"
        )
        job = f" (job {result['job']})" if result.get("job") else ""
        click.echo(f"{result['app']}: {verdict}{job}")
        _print_status(result)
    if result["errors"]:
        for domain, error in sorted(result["errors"].items()):
            print_error(f"{domain}: {error}")
        raise SystemExit(1)


@click.group(cls=AppOrCommand)
def certs() -> None:
    """HTTPS certificates of an app (`dockyard certs APP` shows their status)."""


@certs.command("status")
@click.argument("name")
@json_option
@click.pass_context
def certs_status(ctx: click.Context, name: str, as_json: bool) -> None:
    """Certificate, and per domain: HTTPS, valid until, last attempt, the CA's last error."""
    report = client_of(ctx).request("GET", f"/apps/{name}/certs")
    if as_json:
        print_json(report)
    else:
        _print_status(report)


@certs.command("issue")
@click.argument("name")
@json_option
@click.pass_context
def certs_issue(ctx: click.Context, name: str, as_json: bool) -> None:
    """Order a certificate now for every domain that lacks one (exit 1 if a domain failed)."""
    _print_result(client_of(ctx).request("POST", f"/apps/{name}/certs/issue"), as_json=as_json)


@certs.command("renew")
@click.argument("name")
@click.option("--force", is_flag=True, help="Renew even if the certificate is far from expiry.")
@json_option
@click.pass_context
def certs_renew(ctx: click.Context, name: str, force: bool, as_json: bool) -> None:
    """Renew the certificate if it is due (or always with --force)."""
    result = client_of(ctx).request("POST", f"/apps/{name}/certs/renew", params={"force": str(force).lower()})
    _print_result(result, as_json=as_json)


@certs.command("redirect")
@click.argument("name")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.pass_context
def certs_redirect(ctx: click.Context, name: str, state: str) -> None:
    """Redirect HTTP to HTTPS for the certified domains (on, the default) or not (off)."""
    client_of(ctx).request("PUT", f"/apps/{name}/certs/redirect", json={"enabled": state == "on"})
    click.echo(f"{name}: HTTP redirect {state}")
