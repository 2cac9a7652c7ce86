"""`dockyard tui`: start the terminal console (tui/), an HTTP client of the API like the CLI."""

import click


@click.command()
def tui() -> None:
    """Open the terminal console: apps, deploys and logs, live (DOCKYARD_URL, DOCKYARD_TOKEN)."""
    # Imported here: Textual is needed by this command only. The TUI never imports
    # `controller` (import-linter); the CLI only starts it.
    from tui.start import main as run_tui

    run_tui()
