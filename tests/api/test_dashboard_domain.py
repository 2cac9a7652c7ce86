"""DOCKYARD_DASHBOARD_DOMAIN: the GUI served through the managed proxy on its own name, with a
certificate ordered like an app's, and a name no app may claim."""

import time
from pathlib import Path

import pytest

from controller.domain.errors import InvalidInput
from controller.domain.models import Site
from controller.settings import Settings
from controller.wiring import dashboard_sites
from tests.api.conftest import AUTH, api_settings, open_bed

DASH = "dash.example.com"
WAIT = 10.0


def dashboard_site(sites: list[Site] | None) -> Site | None:
    return next((site for site in sites or () if site.app == "dockyard"), None)


def test_the_dashboard_domain_routes_to_the_api_and_gets_a_certificate(
    tmp_path: Path, migrated_database: Path
) -> None:
    with open_bed(tmp_path, migrated_database, dashboard_domain=DASH, listen="0.0.0.0:8123") as bed:
        assert dashboard_site(bed.proxy.sites) == Site(
            app="dockyard", domains=(DASH,), backends=("127.0.0.1:8123",)
        )
        deadline = time.monotonic() + WAIT
        while bed.services.certificates.report("dockyard").certificate is None:
            assert time.monotonic() < deadline, "the dashboard's certificate was never ordered"
            time.sleep(0.02)
        assert bed.issuer.orders == [(DASH,)]
        report = bed.services.certificates.report("dockyard")
        assert report.served == (DASH,)
        shown = bed.get("/api/v1/apps/dockyard/certs").json()  # `dockyard certs dockyard`
        assert shown["certificate"]["domains"] == [DASH]

        bed.create_app("web")  # apps route beside it
        bed.post("/api/v1/apps/web/domains", json={"domain": "web.example.com"})
        assert {site.app for site in bed.proxy.sites or ()} == {"dockyard", "web"}


def test_no_app_may_claim_the_dashboard_domain(tmp_path: Path, migrated_database: Path) -> None:
    with open_bed(tmp_path, migrated_database, dashboard_domain=DASH, base_domain="example.com") as bed:
        bed.create_app("web")
        refused = bed.client.post("/api/v1/apps/web/domains", json={"domain": DASH}, headers=AUTH)
        assert refused.status_code == 409
        assert "dashboard" in refused.json()["detail"]
        assert DASH not in bed.services.apps.get("web").domains

        # an app whose default domain (<name>.<base domain>) is the dashboard's is not created
        clash = bed.client.post("/api/v1/apps", json={"name": "dash"}, headers=AUTH)
        assert clash.status_code == 409
        assert bed.client.get("/api/v1/apps/dash", headers=AUTH).status_code == 404


def test_without_the_setting_there_is_no_dashboard_site(bed_settings: Settings) -> None:
    assert dashboard_sites(bed_settings) == ()


@pytest.fixture
def bed_settings(tmp_path: Path) -> Settings:
    return api_settings(tmp_path)


@pytest.mark.parametrize("hostile", ["dash.example.com;include /etc/shadow", "-bad.example.com", "a..b"])
def test_a_hostile_dashboard_domain_stops_the_start_with_the_setting_named(
    tmp_path: Path, hostile: str
) -> None:
    with pytest.raises(InvalidInput, match="DOCKYARD_DASHBOARD_DOMAIN"):
        dashboard_sites(api_settings(tmp_path, dashboard_domain=hostile))


@pytest.mark.parametrize(
    ("listen", "backend"),
    [
        ("127.0.0.1:8000", "127.0.0.1:8000"),
        ("0.0.0.0:9000", "127.0.0.1:9000"),
        ("[::]:8000", "127.0.0.1:8000"),
    ],
)
def test_the_proxy_reaches_the_api_on_an_ipv4_address(tmp_path: Path, listen: str, backend: str) -> None:
    assert api_settings(tmp_path, listen=listen).dashboard_backend == backend
