"""The certificates router: status, issue, renew and the HTTPS redirect, with a fake CA."""

import pytest

from tests.api.conftest import Bed


def test_an_app_without_domains_has_no_certificate(bed: Bed) -> None:
    bed.create_app("web")
    status = bed.get("/api/v1/apps/web/certs").json()
    assert status["app"] == "web" and status["acme_enabled"] is True
    assert status["certificate"] is None and status["domains"] == []


def test_issue_gets_a_certificate_that_serves_https_and_renew_orders_only_when_due(bed: Bed) -> None:
    bed.create_app("web")
    bed.post("/api/v1/apps/web/domains", json={"domain": "web.example.com"})
    # Adding the domain may already have ordered one in the background: either way, after
    # `issue` the app has a certificate for it.
    response = bed.post("/api/v1/apps/web/certs/issue")
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["job"]
    assert result["certificate"]["domains"] == ["web.example.com"], result
    assert [d["https"] for d in result["domains"]] == [True]
    assert ("web.example.com",) in bed.issuer.orders
    domains = bed.get("/api/v1/apps/web/domains").json()
    assert domains[0]["certificate"] == "valid" and domains[0]["url"].startswith("https://")

    orders = len(bed.issuer.orders)
    due = bed.post("/api/v1/apps/web/certs/renew").json()
    assert due["issued"] is False and due["reason"] and len(bed.issuer.orders) == orders
    forced = bed.post("/api/v1/apps/web/certs/renew", params={"force": "true"}).json()
    assert forced["issued"] is True and len(bed.issuer.orders) == orders + 1


def test_the_https_redirect_is_turned_on_and_off(bed: Bed) -> None:
    bed.create_app("web")
    on = bed.put("/api/v1/apps/web/certs/redirect", json={"enabled": True})
    assert on.status_code == 200, on.text
    assert on.json()["https_redirect"] is True
    assert bed.get("/api/v1/apps/web/certs").json()["https_redirect"] is True
    off = bed.put("/api/v1/apps/web/certs/redirect", json={"enabled": False}).json()
    assert off["https_redirect"] is False


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/apps/nope/certs"),
        ("POST", "/api/v1/apps/nope/certs/issue"),
        ("POST", "/api/v1/apps/nope/certs/renew"),
    ],
)
def test_unknown_apps_are_404(bed: Bed, method: str, path: str) -> None:
    response = bed.client.request(method, path, headers={"Authorization": bed_token(bed)})
    assert response.status_code == 404, response.text
    assert "nope" in response.json()["detail"]


def test_bad_requests_are_refused(bed: Bed) -> None:
    bed.create_app("web")
    assert bed.put("/api/v1/apps/web/certs/redirect", json={"enabled": "maybe"}).status_code == 422
    assert bed.put("/api/v1/apps/web/certs/redirect", json={}).status_code == 422
    assert bed.get("/api/v1/apps/Not_A_Name/certs").status_code == 400


def bed_token(bed: Bed) -> str:
    return f"Bearer {bed.services.admin_token}"
