"""Automatic HTTPS against Pebble + pebble-challtestsrv, a real controller, nginx and containers.

One controller and one Pebble per module: Pebble validates http-01 on the controller's
nginx HTTP port, so it must know that port before it starts. The controller's data dir
is world-traversable, as /var/lib/dockyard is, so nginx workers (nobody) read the webroot.
"""

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import write_static_app
from tests.e2e.conftest import BASE_DOMAIN, TOKEN, Controller, free_port, make_controller
from tests.e2e.pebble import Pebble, pebble_installed, start_pebble
from tests.e2e.tls_client import HttpsLoad, https_get

pytestmark = pytest.mark.integration

ISSUE_TIMEOUT = 30.0
DASHBOARD = "dockyard.example.test"  # DOCKYARD_DASHBOARD_DOMAIN of the module's controller


class AcmeBed:
    """The module's controller, its Pebble, and Pebble's issuing root."""

    def __init__(self, ctl: Controller, pebble: Pebble, https_port: int) -> None:
        self.ctl = ctl
        self.pebble = pebble
        self.https_port = https_port
        self.root = pebble.issuing_root()

    def status(self, app: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.ctl.cli("certs", app, "--json").stdout)
        return result

    def wait_for(self, app: str, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + ISSUE_TIMEOUT
        while True:
            status = self.status(app)
            if predicate(status):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"certificate status of {app} never got there: {status}")
            time.sleep(0.1)

    def wait_for_certificate(self, app: str, domains: set[str]) -> dict[str, Any]:
        return self.wait_for(
            app, lambda s: s["certificate"] is not None and set(s["certificate"]["domains"]) == domains
        )

    def http(self, host: str, path: str = "/") -> httpx.Response:
        return self.ctl.get_app("unused", path, headers={"Host": host}, follow_redirects=False)

    def https(self, host: str, path: str = "/") -> tuple[int, str, str]:
        return https_get(host, self.https_port, self.root, path)

    def deploy(self, app: str, tmp_path: Path) -> None:
        self.ctl.cli("deploy", app, "--path", str(write_static_app(tmp_path / app, body=app)))


def domain_record(status: dict[str, Any], domain: str) -> dict[str, Any]:
    record: dict[str, Any] = next(d for d in status["domains"] if d["domain"] == domain)
    return record


@pytest.fixture(scope="module")
def acme(busybox_image: str) -> Iterator[AcmeBed]:
    if not pebble_installed():
        pytest.fail("pebble is not installed: run scripts/setup-acme-testbed.sh")
    base = Path(tempfile.mkdtemp(prefix="dockyard-acme-e2e-"))
    base.chmod(0o711)  # nginx workers (nobody) must reach the webroot inside the data dir
    ctl = make_controller(base)
    pebble = start_pebble(base / "pebble", http_port=ctl.http_port)
    https_port = free_port()
    ctl.extra_env.update(
        DOCKYARD_HTTPS_PORT=str(https_port),
        DOCKYARD_ACME_DIRECTORY=pebble.directory_url,
        DOCKYARD_ACME_EMAIL="ops@example.com",
        DOCKYARD_ACME_CA_BUNDLE=str(pebble.ca_bundle),
        DOCKYARD_DASHBOARD_DOMAIN=DASHBOARD,
    )
    try:
        ctl.start()
        yield AcmeBed(ctl, pebble, https_port)
    finally:
        ctl.cleanup()
        pebble.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_two_domains_get_one_certificate_served_over_https_with_redirect(
    acme: AcmeBed, tmp_path: Path
) -> None:
    ctl = acme.ctl
    main, extra = f"shop.{BASE_DOMAIN}", "www.shop-example.test"
    ctl.cli("apps", "create", "shop")
    acme.deploy("shop", tmp_path)
    ctl.cli("domains", "add", "shop", extra)

    status = acme.wait_for_certificate("shop", {main, extra})
    assert [d["https"] for d in status["domains"]] == [True, True]
    assert all(d["last_error"] is None for d in status["domains"])
    assert sorted(p.name for p in (ctl.data_dir / "certs" / "shop").glob("*.pem")) == [
        "fullchain.pem",
        "privkey.pem",
    ]
    for pem in ("fullchain.pem", "privkey.pem"):
        assert (ctl.data_dir / "certs" / "shop" / pem).stat().st_mode & 0o777 == 0o600

    served = {host: acme.https(host) for host in (main, extra)}
    assert {status for status, _, _ in served.values()} == {200}
    assert {body.strip() for _, body, _ in served.values()} == {"shop"}
    assert len({serial for _, _, serial in served.values()}) == 1, "both names must get the same certificate"
    assert served[main][2] == status["certificate"]["serial"]

    redirect = acme.http(main, "/some/page?x=1")
    assert redirect.status_code == 308
    assert redirect.headers["location"] == f"https://{main}:{acme.https_port}/some/page?x=1"
    challenge_dir = ctl.data_dir / "acme" / "webroot" / ".well-known" / "acme-challenge"
    (challenge_dir / "probe-token").write_text("probe-content")
    (challenge_dir / "probe-token").chmod(0o644)
    try:
        for host in (main, extra, "unclaimed.example.test"):
            probe = acme.http(host, "/.well-known/acme-challenge/probe-token")
            assert (probe.status_code, probe.text) == (200, "probe-content")
    finally:
        (challenge_dir / "probe-token").unlink()

    table = ctl.cli("certs", "shop").stdout
    assert status["certificate"]["serial"] in table and extra in table
    info = json.loads(ctl.cli("apps", "info", "shop", "--json").stdout)
    assert info["urls"] == [f"https://{main}:{acme.https_port}", f"https://{extra}:{acme.https_port}"]

    ctl.cli("certs", "redirect", "shop", "off")
    assert acme.http(main).text.strip() == "shop"
    assert acme.https(main)[0] == 200
    ctl.cli("certs", "redirect", "shop", "on")
    assert acme.http(main).status_code == 308


def test_forced_renewal_serves_the_new_certificate_without_a_failed_request(
    acme: AcmeBed, tmp_path: Path
) -> None:
    ctl = acme.ctl
    host = f"renewed.{BASE_DOMAIN}"
    ctl.cli("apps", "create", "renewed")
    acme.deploy("renewed", tmp_path)
    before = acme.wait_for_certificate("renewed", {host})["certificate"]["serial"]

    with HttpsLoad(host, acme.https_port, acme.root) as load:
        load.wait_for(200)
        result = json.loads(ctl.cli("certs", "renew", "renewed", "--force", "--json").stdout)
        load.wait_for(load.total + 500)
    after = result["certificate"]["serial"]

    assert result["issued"] and after != before
    assert load.failures == 0, (load.statuses, load.errors[:5])
    assert load.serials[before] >= 1 and load.serials[after] >= 1, load.serials
    assert acme.https(host)[2] == after
    assert "forced renewal" in "\n".join(result["log"])


def test_certificate_work_runs_as_queue_jobs_with_live_events(acme: AcmeBed) -> None:
    ctl = acme.ctl
    host = f"jobs.{BASE_DOMAIN}"
    ctl.cli("apps", "create", "jobs")
    acme.wait_for_certificate("jobs", {host})  # ordered by the job that creating the app queued
    first = json.loads(ctl.cli("deploys", "list", "jobs", "--json").stdout)
    assert [(j["kind"], j["status"]) for j in first] == [("certificate", "succeeded")]
    assert f"ordering a certificate for {host}" in ctl.cli("deploys", "show", first[0]["id"]).stdout

    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.stream("GET", f"{ctl.url}/api/v1/events", headers=headers, timeout=60) as events:
        result = json.loads(ctl.cli("certs", "renew", "jobs", "--force", "--json").stdout)
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + ISSUE_TIMEOUT
        for line in events.iter_lines():
            if line.startswith("data:"):
                seen.append(json.loads(line[5:]))
                if seen[-1]["type"] == "certificate" and seen[-1]["app"] == "jobs":
                    break
            assert time.monotonic() < deadline, seen
    assert result["issued"] and result["job"] not in (None, first[0]["id"])
    event = seen[-1]
    assert (event["status"], event["domains"]) == ("issued", [host])
    assert event["not_after"] is not None
    job_states = [e["status"] for e in seen if e["type"] == "deploy" and e["id"] == result["job"]]
    assert job_states[:2] == ["queued", "running"]
    shown = json.loads(ctl.cli("deploys", "show", result["job"], "--json").stdout)
    assert (shown["kind"], shown["status"]) == ("certificate", "succeeded")


def test_a_domain_whose_challenge_fails_shows_the_ca_error_and_keeps_http(
    acme: AcmeBed, tmp_path: Path
) -> None:
    ctl = acme.ctl
    good, broken = f"flaky.{BASE_DOMAIN}", "broken.flaky-example.test"
    acme.pebble.resolve(broken, "127.0.0.2")  # loopback, but nothing listens there: "port closed"
    ctl.cli("apps", "create", "flaky")
    acme.deploy("flaky", tmp_path)
    acme.wait_for_certificate("flaky", {good})
    ctl.cli("domains", "add", "flaky", broken)

    status = acme.wait_for("flaky", lambda s: domain_record(s, broken)["last_error"] is not None)
    record = domain_record(status, broken)
    assert not record["https"] and domain_record(status, good)["https"]
    assert record["error_code"] == "connection"
    assert "127.0.0.2" in record["last_error"] and "connection refused" in record["last_error"]
    assert record["failures"] == 1 and record["next_attempt"] is not None
    assert any("challenge failed for " + broken in line for line in status["log"])

    assert acme.http(broken).text.strip() == "flaky", "the failed domain keeps being served over HTTP"
    assert acme.https(good)[0] == 200, "the other domain keeps its certificate"

    again = ctl.cli("certs", "issue", "flaky", check=False)
    assert again.returncode == 1
    assert f"{broken}: connection:" in again.stderr


def test_hostile_domain_never_reaches_the_ca_or_nginx(acme: AcmeBed) -> None:
    ctl = acme.ctl
    ctl.cli("apps", "create", "hostile")
    refused = ctl.cli("domains", "add", "hostile", "a.com;include /etc/shadow", check=False)
    assert refused.returncode != 0 and "400" in refused.stderr
    assert "shadow" not in (ctl.data_dir / "nginx" / "sites.conf").read_text()
    assert "shadow" not in (acme.pebble.directory / "pebble.log").read_text()
    assert [d["domain"] for d in acme.status("hostile")["domains"]] == [f"hostile.{BASE_DOMAIN}"]


def test_restart_neither_reissues_nor_loses_certificates(acme: AcmeBed, tmp_path: Path) -> None:
    ctl = acme.ctl
    host = f"kept.{BASE_DOMAIN}"
    ctl.cli("apps", "create", "kept")
    acme.deploy("kept", tmp_path)
    serial = acme.wait_for_certificate("kept", {host})["certificate"]["serial"]
    cert_dir = ctl.data_dir / "certs" / "kept"
    chain = (cert_dir / "fullchain.pem").read_bytes()
    log_lines = (cert_dir / "issuance.log").read_text().splitlines()

    ctl.kill()
    assert acme.https(host)[2] == serial, "nginx serves HTTPS while the controller is down"
    ctl.start()
    time.sleep(1.5)  # the renewal loop checks every app right after the routes are adopted

    assert (cert_dir / "fullchain.pem").read_bytes() == chain
    assert (cert_dir / "issuance.log").read_text().splitlines() == log_lines
    assert acme.https(host)[2] == serial
    result = json.loads(ctl.cli("certs", "renew", "kept", "--json").stdout)
    assert not result["issued"] and result["reason"] == "certificate is valid"
    assert result["certificate"]["serial"] == serial


def test_the_dashboard_domain_serves_the_gui_over_https_with_its_own_certificate(acme: AcmeBed) -> None:
    """DOCKYARD_DASHBOARD_DOMAIN: nginx serves the GUI on that name with a certificate from the CA."""
    deadline = time.monotonic() + ISSUE_TIMEOUT
    while True:
        try:
            status, body, serial = acme.https(DASHBOARD, "/login")
        except OSError:  # no certificate for the name yet: the handshake is refused
            status, body, serial = 0, "", ""
        if status == 200:
            break
        assert time.monotonic() < deadline, f"https://{DASHBOARD} never served the login page"
        time.sleep(0.2)
    assert "<form" in body
    assert serial, "the page came over TLS verified by the CA's root"
    cert_dir = acme.ctl.data_dir / "certs" / "dockyard"
    assert (cert_dir / "fullchain.pem").stat().st_mode & 0o777 == 0o600

    redirect = acme.http(DASHBOARD, "/login")
    assert redirect.status_code == 308
    assert redirect.headers["location"] == f"https://{DASHBOARD}:{acme.https_port}/login"

    acme.ctl.cli("apps", "create", "claimer")
    refused = acme.ctl.cli("domains", "add", "claimer", DASHBOARD, check=False)
    assert refused.returncode != 0 and "dashboard" in refused.stderr
    assert DASHBOARD not in acme.ctl.cli("domains", "claimer").stdout
