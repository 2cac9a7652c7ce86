"""`dockyard apps source`: where an app's git pushes and webhooks deploy from, and the git lines
of `apps info`."""

from typing import Any

import click

from controller.cli.client import client_of
from controller.cli.output import json_option, print_json


@click.command("source")
@click.argument("name")
@click.option("--repo", "repo_url", help="https://[user:token@]host/path, ssh://... or user@host:path")
@click.option("--branch", help="The branch that deploys (default main).")
@click.option("--token", help="Token for an https repository (stored encrypted).")
@click.option("--new-deploy-key", is_flag=True, help="Generate a new SSH deploy key.")
@click.option("--new-webhook-secret", is_flag=True, help="Generate a new webhook secret.")
@json_option
@click.pass_context
def apps_source(
    ctx: click.Context,
    name: str,
    repo_url: str | None,
    branch: str | None,
    token: str | None,
    new_deploy_key: bool,
    new_webhook_secret: bool,
    as_json: bool,
) -> None:
    """Set where webhooks deploy NAME from, and which branch deploys (push or webhook)."""
    body = {
        "repo_url": repo_url,
        "branch": branch,
        "token": token,
        "new_deploy_key": new_deploy_key,
        "new_webhook_secret": new_webhook_secret,
    }
    info = client_of(ctx).request("PUT", f"/apps/{name}/source", json=body)
    if as_json:
        print_json(info)
        return
    for line in git_info_lines(info):
        click.echo(line)
    if info["deploy_key_public"]:
        click.echo("Add the deploy key (read access) to the repository at your git host.")


def fetch_git_info(ctx: click.Context, name: str) -> dict[str, Any]:
    info: dict[str, Any] = client_of(ctx).request("GET", f"/apps/{name}/source")
    return info


def git_info_lines(info: dict[str, Any]) -> list[str]:
    """The git part of `apps info`: remotes, branch, source, webhook URLs and secret."""
    source = info["repo_url"] or "-"
    if info["has_token"]:
        source += " (token set)"
    lines = [
        f"branch:     {info['branch']}",
        f"git remote: {info['ssh_remote']}",
        f"git remote: {info['http_remote']}",
        f"source:     {source}",
    ]
    if info["deploy_key_public"]:
        lines.append(f"deploy key: {info['deploy_key_public']}")
    lines += [f"webhook:    {url}" for url in info["webhook_urls"].values()]
    lines.append(f"webhook secret: {info['webhook_secret']}")
    for delivery in info["deliveries"][:3]:
        detail = delivery["error"] or delivery["deploy_id"] or ""
        lines.append(
            f"delivery:   {delivery['received_at'][:19]} {delivery['provider']} "
            f"{delivery['commit'][:12]} {delivery['status']} {detail}".rstrip()
        )
    return lines
