"""What the CLI prints to a user, against a real controller: listings, `ps`, `domains`, logs."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import write_static_app
from tests.e2e.conftest import DOCKYARD, Controller
from tests.e2e.git_support import GIT_USER, git_executable, traversable_dir

pytestmark = pytest.mark.integration


def test_listings_have_a_header_and_say_when_empty(controller: Controller, tmp_path: Path) -> None:
    ctl = controller
    assert ctl.cli("apps", "list").stdout == "no apps yet: dockyard apps create NAME\n"
    assert "no SSH keys yet" in ctl.cli("keys", "list").stdout
    assert ctl.cli("deploys", "list").stdout == "no deploys yet\n"
    assert json.loads(ctl.cli("apps", "list", "--json").stdout) == []
    assert json.loads(ctl.cli("keys", "list", "--json").stdout) == []

    ctl.cli("apps", "create", "lst")
    assert ctl.cli("releases", "lst").stdout == "lst has no releases yet: dockyard deploy lst\n"
    assert ctl.cli("deploys", "list", "lst").stdout == "no deploys of lst yet\n"
    assert json.loads(ctl.cli("releases", "lst", "--json").stdout) == []

    ctl.cli("deploy", "lst", "--path", str(write_static_app(tmp_path / "app", body="lst")))
    apps = ctl.cli("apps", "list").stdout.splitlines()
    assert apps[0].split() == ["NAME", "RELEASE", "DOMAINS"]
    assert apps[1].split()[:2] == ["lst", "v1"]
    releases = ctl.cli("releases", "lst").stdout.splitlines()
    assert releases[0].split()[:4] == ["REL", "CREATED", "IMAGE", "DESCRIPTION"]
    assert releases[1].startswith("* v1")
    deploys = ctl.cli("deploys", "list").stdout.splitlines()
    assert deploys[0].split() == ["ID", "CREATED", "APP", "KIND", "STATUS", "DESCRIPTION"]
    assert " lst " in deploys[1] and " succeeded " in deploys[1]
    listed = json.loads(ctl.cli("apps", "list", "--json").stdout)
    assert [app["name"] for app in listed] == ["lst"]


def test_a_401_says_where_the_cli_looked_for_a_token(shared_controller: Controller) -> None:
    """A user who is not root cannot read the admin token file: the error says what to do."""
    if os.geteuid() != 0:
        pytest.skip("runs the CLI as another user")
    executable = git_executable()
    with traversable_dir("dockyard-cli-token-") as data_dir:
        token_file = data_dir / "admin.token"
        token_file.write_text("secret\n")
        token_file.chmod(0o600)
        env = {"PATH": os.environ["PATH"], "DOCKYARD_URL": shared_controller.url}
        env["DOCKYARD_DATA_DIR"] = str(data_dir)
        result = subprocess.run(
            ["runuser", "-u", GIT_USER, "--", executable, "apps", "list"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    message = result.stderr
    assert "(HTTP 401)" in message
    assert "DOCKYARD_TOKEN is not set" in message
    assert f"{token_file} could not be read (Permission denied)" in message
    assert "export DOCKYARD_TOKEN=" in message and "run the CLI as root" in message

    refused = subprocess.run(
        [DOCKYARD, "apps", "list"],
        env={**shared_controller.env, "DOCKYARD_TOKEN": "wrong"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert "the token in DOCKYARD_TOKEN was refused" in refused.stderr
