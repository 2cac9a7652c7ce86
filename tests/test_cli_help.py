"""Every `dockyard` command, subcommand and option says what it does in `--help`."""

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from controller.cli import main


def walk(
    command: click.Command, path: tuple[str, ...] = ("dockyard",)
) -> Iterator[tuple[str, click.Command]]:
    """Every command of the tree (hidden ones too), with its full name."""
    yield " ".join(path), command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from walk(sub, (*path, name))


def test_every_command_and_option_has_help() -> None:
    missing = []
    for name, command in walk(main):
        if not (command.help or command.short_help):
            missing.append(f"{name}: no help text")
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden and not param.help:
                missing.append(f"{name} {'/'.join(param.opts)}: no help text")
    assert missing == []


def test_help_lists_each_subcommand_with_a_one_line_summary() -> None:
    for name, command in walk(main):
        if not isinstance(command, click.Group) or command.hidden:
            continue
        args = name.split()[1:]
        result = CliRunner().invoke(main, [*args, "--help"])
        assert result.exit_code == 0, result.output
        listed = result.output.split("Commands:", 1)[1].splitlines()
        for sub, subcommand in command.commands.items():
            if subcommand.hidden:
                continue
            line = next(line for line in listed if line.split()[:1] == [sub])
            assert len(line.split()) > 1, f"{name} {sub} has an empty summary in --help"


def test_the_walk_sees_nested_commands() -> None:
    names = {name for name, _ in walk(main)}
    assert {
        "dockyard apps create",
        "dockyard keys list",
        "dockyard certs renew",
        "dockyard ps scale",
    } <= names


def test_an_empty_account_listing_says_so_instead_of_a_bare_header(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from controller.cli.commands.accounts import _table

    _table(("TIME", "ACTOR"), [], empty="nothing recorded that matches")
    _table(("TIME", "ACTOR"), [("now", "alice")], empty="unused")
    assert capsys.readouterr().out.splitlines() == [
        "nothing recorded that matches",
        "TIME  ACTOR",
        "now   alice",
    ]
