"""What `dockyard` commands print: the one error printer, JSON, tables, and the shared options."""

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

# `--json` of every command that has one.
json_option: Callable[[F], F] = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (for scripts)."
)

FOLLOW_JOB_HELP = "Stream the job's log until it ends (default)."


def follow_option(help_text: str = FOLLOW_JOB_HELP) -> Callable[[F], F]:
    """`--follow/--no-follow` of every command that queues a job (on by default)."""
    return click.option("--follow/--no-follow", default=True, help=help_text)


def print_error(message: str, *, prefix: str = "error") -> None:
    """One error line on stderr: `error: ...` (or `dockyard: ...` for what the git user sees)."""
    click.echo(f"{prefix}: {message}", err=True)


def fail(message: str, *, prefix: str = "error") -> NoReturn:
    """Print one error line and exit 1."""
    print_error(message, prefix=prefix)
    sys.exit(1)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def print_rows(rows: Sequence[tuple[str, ...]]) -> None:
    """Left-aligned columns, two spaces apart; the last column is not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
        )


class AppOrCommand(click.Group):
    """A group whose first word may be an app: `dockyard certs APP` means `certs status APP`.

    Its `default_command` runs when the first word is not one of its commands.
    """

    default_command = "status"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        words = [arg for arg in args if not arg.startswith("-")]
        if words and words[0] not in self.commands:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


class AppOrReport(AppOrCommand):
    """`dockyard ps APP` means `ps report APP` (Dokku's `ps:report`); likewise `domains APP`."""

    default_command = "report"
