"""What the CLI prints to a user, against a real controller: listings, `ps`, `domains`, logs."""

import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import BUSYBOX_IMAGE, require_root, write_static_app
from tests.e2e.conftest import DOCKYARD, TOKEN, Controller
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
    require_root("runs the CLI as another user")
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


def busybox_app(directory: Path, instructions: str) -> Path:
    """A busybox app with /www/index.html, ending with `instructions` (its CMD)."""
    (directory / "www").mkdir()
    (directory / "www" / "index.html").write_text("hi")
    (directory / "Dockerfile").write_text(f"FROM {BUSYBOX_IMAGE}\nCOPY www /www\n{instructions}\n")
    return directory


def wait_for(condition: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_ps_and_domains_of_an_app(shared_controller: Controller, tmp_path: Path) -> None:
    ctl = shared_controller
    ctl.cli("apps", "create", "psapp")
    assert "psapp: not-deployed" in ctl.cli("ps", "psapp").stdout
    ctl.cli("deploy", "psapp", "--path", str(write_static_app(tmp_path / "app", body="ps")))
    ctl.cli("ps", "scale", "psapp", "web=2")

    lines = ctl.cli("ps", "psapp").stdout.splitlines()
    assert lines[0] == "psapp: running, release v1, web scale 2"
    assert lines[1].split() == [
        "TYPE", "RELEASE", "STATE", "HEALTH", "RESTARTS", "EXIT", "UPTIME", "ADDRESS", "NAME"
    ]  # fmt: skip
    rows = [line.split() for line in lines[2:]]
    assert len(rows) == 2
    for row in rows:
        assert row[:6] == ["web", "v1", "running", "-", "0", "-"]
        assert row[6].endswith("s") and row[7].count(".") == 3
    report = json.loads(ctl.cli("ps", "psapp", "--json").stdout)
    assert [c["restarts"] for c in report["containers"]] == [0, 0]
    assert report["status"] == "running" and report["crashes"] == []
    # The subcommands still work, and `ps report APP` is the long form.
    ctl.cli("ps", "restart", "psapp")
    assert ctl.cli("ps", "report", "psapp").stdout.splitlines()[0].startswith("psapp: running")

    domains = ctl.cli("domains", "psapp").stdout.splitlines()
    assert domains[0].split() == ["DOMAIN", "CERTIFICATE", "URL"]
    assert domains[1].split()[:2] == ["psapp.apps.test", "none"]
    ctl.cli("domains", "add", "psapp", "www.ps.test")
    listed = json.loads(ctl.cli("domains", "psapp", "--json").stdout)
    assert [(d["domain"], d["certificate"]) for d in listed] == [
        ("psapp.apps.test", "none"),
        ("www.ps.test", "none"),
    ]
    assert listed[1]["url"].startswith("http://www.ps.test")
    ctl.cli("domains", "remove", "psapp", "www.ps.test")
    ctl.cli("domains", "remove", "psapp", "psapp.apps.test")
    assert (
        ctl.cli("domains", "psapp").stdout == "psapp has no domains yet: dockyard domains add psapp DOMAIN\n"
    )
    missing = ctl.cli("ps", "nosuchapp", check=False)
    assert missing.returncode == 1 and "nosuchapp" in missing.stderr


def test_a_wrong_port_names_the_port_its_source_and_where_the_app_listens(
    shared_controller: Controller, tmp_path: Path
) -> None:
    ctl = shared_controller
    ctl.cli("apps", "create", "wrongport")
    # No EXPOSE and no PORT config: Dockyard tries 5000, the app ignores $PORT and uses 8080.
    busybox_app(tmp_path, 'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]')
    result = ctl.cli("deploy", "wrongport", "--path", str(tmp_path), check=False)
    assert result.returncode == 1
    assert "connection refused on port 5000" in result.stdout
    assert (
        "port 5000 came from Dockyard's default (no PORT config and no EXPOSE in the image)" in result.stdout
    )
    assert "the container listens on [::]:8080\n" in result.stdout
    assert "dockyard config set wrongport PORT=<port>" in result.stdout

    # With PORT set to yet another port, the message says it came from the config.
    ctl.cli("config", "set", "wrongport", "PORT=7000")
    deploy = ctl.cli("deploy", "wrongport", "--path", str(tmp_path), check=False)
    assert deploy.returncode == 1
    assert "port 7000 came from the app's PORT config (7000)" in deploy.stdout
    assert ":8080" in deploy.stdout


def test_a_crash_loop_is_crashed_steadily_with_its_exit_code(
    shared_controller: Controller, tmp_path: Path
) -> None:
    """The app answers long enough to deploy, then exits 3 a second later, again and again."""
    ctl = shared_controller
    ctl.cli("apps", "create", "crashy")
    busybox_app(
        tmp_path, 'EXPOSE 8080\nCMD ["sh", "-c", "httpd -p 8080 -h /www; sleep 3; echo giving-up; exit 3"]'
    )
    ctl.cli("deploy", "crashy", "--path", str(tmp_path))

    def info() -> dict[str, object]:
        result: dict[str, object] = json.loads(ctl.cli("apps", "info", "crashy", "--json").stdout)
        return result

    def crash_looping() -> bool:
        # Two crashes make the loop: after one, a moment with no container up reads crashed too.
        current = info()
        return current["status"] == "crashed" and len(current["crashes"]) >= 2  # type: ignore[arg-type]

    wait_for(crash_looping, what="the app to be crash-looping")
    # From now on every look says crashed, while containers come and go: a few more crashes.
    seen_states = set()
    statuses = []
    crashes_at_start = len(info()["crashes"])  # type: ignore[arg-type]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        current = info()
        statuses.append(current["status"])
        seen_states |= {c["state"] for c in current["containers"]}  # type: ignore[attr-defined]
        if len(current["crashes"]) >= crashes_at_start + 2 and "running" in seen_states:  # type: ignore[arg-type]
            break
        time.sleep(0.3)
    else:
        raise AssertionError(f"no further crashes seen: {statuses}")
    assert set(statuses) == {"crashed"}, statuses
    assert "running" in seen_states  # a container was up between crashes, and still: crashed

    crash = info()["crashes"][0]  # type: ignore[index]
    assert crash["exit_code"] == 3 and crash["process"] == "web" and crash["release"] == 1
    text = ctl.cli("apps", "info", "crashy").stdout
    assert "status:     crashed" in text
    assert "exited with code 3" in text and "restarts " in text
    ps = ctl.cli("ps", "crashy").stdout
    assert ps.startswith("crashy: crashed") and "exited with code 3" in ps

    # The event stream says so too, as it happens: the next crash arrives as a container event.
    with httpx.stream(
        "GET", f"{ctl.url}/api/v1/events", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
    ) as events:
        for line in events.iter_lines():
            if line.startswith("data: ") and '"type": "container"' in line:
                event = json.loads(line.removeprefix("data: "))
                if event["app"] == "crashy":
                    break
    assert event["action"] == "crashed" and event["exit_code"] == 3 and event["process"] == "web"
    ctl.cli("apps", "destroy", "crashy", "--force")  # stop the repairs: the module's controller goes on


CGI = """#!/bin/sh
echo "request ua=$HTTP_USER_AGENT" >&2
printf 'Content-Type: text/plain\\r\\n\\r\\nhello\\n'
"""


def test_logs_tail_timestamps_no_health_checks_and_the_proxy_log(
    shared_controller: Controller, tmp_path: Path
) -> None:
    """The app logs each request's User-Agent; its health check asks the same CGI."""
    ctl = shared_controller
    ctl.cli("apps", "create", "talky")
    busybox_app(tmp_path, 'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\nEXPOSE 8080')
    (tmp_path / "www" / "cgi-bin").mkdir()
    (tmp_path / "www" / "cgi-bin" / "hello").write_text(CGI)
    (tmp_path / "www" / "cgi-bin" / "hello").chmod(0o755)
    (tmp_path / "app.json").write_text(json.dumps({"healthchecks": {"web": [{"path": "/cgi-bin/hello"}]}}))
    ctl.cli("deploy", "talky", "--path", str(tmp_path))
    response = ctl.get_app("talky", "/cgi-bin/hello?from=test", headers={"User-Agent": "e2e-client/1"})
    assert response.status_code == 200

    wait_for(lambda: "ua=e2e-client/1" in ctl.cli("logs", "talky").stdout, what="the request in the log")
    output = ctl.cli("logs", "talky").stdout
    assert "dockyard-healthcheck" not in output  # the health check did ask (see the raw log below)
    raw = subprocess.run(
        ["docker", "logs", json.loads(ctl.cli("ps", "talky", "--json").stdout)["containers"][0]["name"]],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "ua=dockyard-healthcheck" in raw.stderr + raw.stdout

    last = ctl.cli("logs", "talky", "--tail", "1").stdout.splitlines()
    assert len(last) == 1 and last[0].endswith("| request ua=e2e-client/1")
    stamped = ctl.cli("logs", "talky", "-n", "1", "--timestamps").stdout
    assert re.fullmatch(r"\S+ \| \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z request ua=e2e-client/1\n", stamped)

    def proxy_log() -> str:
        return ctl.cli("logs", "talky", "--proxy").stdout

    wait_for(lambda: "e2e-client/1" in proxy_log(), what="nginx's access log line")  # flushed every second
    (line,) = proxy_log().splitlines()
    assert '"GET /cgi-bin/hello?from=test HTTP/1.1" 200' in line and line.endswith('"e2e-client/1"')
    assert ctl.cli("logs", "talky", "--proxy", "--tail", "0").stdout == ""
