"""`dockyard serve`: run the controller itself (the one CLI module that builds the API and wiring)."""

import click

from controller.cli.output import fail


@click.command()
def serve() -> None:
    """Run the controller (settings from DOCKYARD_* environment variables)."""
    # Imported here: every other command (and git-shell on each push) starts without them.
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
    serve_api(create_app(settings), settings)
