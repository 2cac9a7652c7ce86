"""The CLI's one HTTP client and error printer: what a user sees when the API says no."""

import json
from pathlib import Path

import click
import httpx
import pytest
from click.testing import CliRunner

from controller.cli import client as cli_client
from controller.cli.client import Client, error_detail
from controller.cli.output import fail, follow_option, json_option


def client_answering(status: int, body: object, source: str = "set DOCKYARD_TOKEN") -> Client:
    client = Client("http://controller", "t0ken", source)
    client._http = httpx.Client(
        base_url=client.url,
        transport=httpx.MockTransport(lambda request: httpx.Response(status, json=body)),
    )
    return client


def run(callback: click.Command) -> tuple[int, str]:
    result = CliRunner().invoke(callback, [])
    return result.exit_code, result.output


def test_an_http_error_is_one_line_with_its_status() -> None:
    @click.command()
    def command() -> None:
        client_answering(404, {"detail": "no app named web"}).request("GET", "/apps/web")

    assert run(command) == (1, "error: no app named web (HTTP 404)\n")


def test_a_401_says_where_the_token_came_from() -> None:
    @click.command()
    def command() -> None:
        client_answering(401, {"detail": "bad token"}, "the token in DOCKYARD_TOKEN was refused").request(
            "GET", "/apps"
        )

    assert run(command) == (1, "error: bad token (HTTP 401); the token in DOCKYARD_TOKEN was refused\n")


def test_an_unreachable_controller_is_named() -> None:
    @click.command()
    def command() -> None:
        Client("http://127.0.0.1:9", None).request("GET", "/apps")

    code, output = run(command)
    assert code == 1 and output.startswith("error: cannot reach Dockyard at http://127.0.0.1:9: ")


def test_the_git_users_errors_carry_the_dockyard_prefix(tmp_path: Path) -> None:
    @click.command()
    def command() -> None:
        cli_client.hook_client(tmp_path)

    code, output = run(command)
    assert code == 1 and output.startswith("dockyard: cannot read the controller's address")
    assert error_detail(httpx.Response(409, json={"detail": "busy"})) == "busy"
    assert error_detail(httpx.Response(502, text="bad gateway\n")) == "bad gateway"


def test_the_shared_options_parse_like_before() -> None:
    seen: list[tuple[bool, bool]] = []

    @click.command()
    @follow_option()
    @json_option
    def command(follow: bool, as_json: bool) -> None:
        seen.append((follow, as_json))
        if as_json:
            click.echo(json.dumps({"follow": follow}))
        else:
            fail("not json")

    runner = CliRunner()
    assert runner.invoke(command, ["--json"]).output == '{"follow": true}\n'
    assert runner.invoke(command, ["--no-follow"]).exit_code == 1
    assert seen == [(True, True), (False, False)]


@pytest.mark.parametrize("prefix", ["error", "dockyard"])
def test_fail_prints_one_line_on_stderr(prefix: str) -> None:
    @click.command()
    def command() -> None:
        fail("it broke", prefix=prefix)

    result = CliRunner().invoke(command, [])
    assert result.exit_code == 1 and result.stderr == f"{prefix}: it broke\n" and result.stdout == ""
