"""What the CLI prints to a user, against a real controller: listings, `ps`, `domains`, logs."""

import json
from pathlib import Path

import pytest

from tests.conftest import write_static_app
from tests.e2e.conftest import Controller

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
