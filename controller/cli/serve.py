"""`dockyard serve`: run the controller itself (the one CLI module that builds the API and wiring)."""

import sys

import click

from controller.cli.output import fail


@click.command()
def serve() -> None:
    """Run the controller (settings from DOCKYARD_* environment variables)."""
    # Imported here: every other command (and git-shell on each push) starts without them.
    from controller.api.app import create_app
    from controller.api.server import freeze_startup_heap
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

    def on_started() -> None:
        # The keeper starts once the services have (a controller that refuses to start leaves none).
        if settings.keeper:
            start_keeper(settings)
        freeze_startup_heap()

    serve_api(create_app(settings, on_started=on_started), settings)


@click.command()
def keeper() -> None:
    """Run the keeper: it starts again serving containers stopped behind Dockyard's back.

    `dockyard serve` starts it (one per data dir); it keeps going while the controller is
    down, and exits when its data dir is gone.
    """
    from controller.settings import Settings
    from controller.wiring_keeper import configure_keeper_logging, run_keeper

    configure_keeper_logging()
    sys.exit(run_keeper(Settings()))
