"""The `dockyard` command tree: every command module's group or command, added in one place."""

import click

from controller.cli.commands.accounts import audit, tokens, users
from controller.cli.commands.apps import apps
from controller.cli.commands.certs import certs
from controller.cli.commands.config import config
from controller.cli.commands.deploys import deploy, deploys, redeploy, releases, rollback
from controller.cli.commands.domains import domains
from controller.cli.commands.keys import keys
from controller.cli.commands.ps import logs, ps
from controller.cli.commands.system import system
from controller.cli.commands.tui import tui
from controller.cli.git_user import git_hook, git_shell
from controller.cli.serve import keeper, serve
from controller.cli.service import service


@click.group()
@click.version_option(package_name="dockyard")
def main() -> None:
    """Dockyard: deploy apps to this server with git push or a directory."""


for command in (
    # Run on the server: the controller, its service, and what the git user runs.
    serve,
    keeper,
    service,
    git_shell,
    git_hook,
    # Clients of the API, one module per resource.
    apps,
    deploy,
    redeploy,
    deploys,
    releases,
    rollback,
    config,
    domains,
    certs,
    ps,
    logs,
    keys,
    system,
    users,
    tokens,
    audit,
    tui,
):
    main.add_command(command)
