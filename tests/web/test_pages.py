"""The GUI's pages over the real services: what they show, what they change, and how they refuse."""

import re
import time

from controller.domain.models import DeployStatus
from controller.web.render import CONTENT_SECURITY_POLICY
from tests.web.conftest import Browser

HOSTILE = "<script>alert(1)</script>"


def settled(browser: Browser, app: str = "web") -> None:
    """Wait for the app's newest deploy (a form queues it) to end."""
    newest = browser.bed.services.history.of_app(app, limit=1)[0]
    browser.bed.services.deploys.wait(newest.id, 10)


def deployed(browser: Browser, name: str = "web") -> None:
    browser.bed.create_app(name)
    assert browser.bed.deploy(name)["status"] == "succeeded"


def test_the_dashboard_shows_every_app_with_its_state_release_and_last_deploy(browser: Browser) -> None:
    deployed(browser, "web")
    browser.bed.create_app("empty")
    page = browser.get("/")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    row = re.search(r'<tr data-app="web">.*?</tr>', page.text, re.S)
    assert row, page.text
    assert "running" in row.group(0)
    assert "v1" in row.group(0)
    assert "build succeeded" in row.group(0)
    assert re.search(r'data-label="Containers">1<', row.group(0))
    assert "no release" in re.search(r'<tr data-app="empty">.*?</tr>', page.text, re.S).group(0)  # type: ignore[union-attr]


def test_the_filter_box_works_without_javascript_and_as_a_fragment(browser: Browser) -> None:
    browser.bed.create_app("alpha")
    browser.bed.create_app("beta")
    page = browser.get("/?q=alp")
    assert 'data-app="alpha"' in page.text
    assert 'data-app="beta"' not in page.text
    fragment = browser.get("/partials/apps?q=bet")
    assert fragment.text.startswith('<div id="apps"')
    assert 'data-app="beta"' in fragment.text
    assert 'data-app="alpha"' not in fragment.text


def test_one_row_alone_for_a_live_update_of_one_app(browser: Browser) -> None:
    deployed(browser, "web")
    row = browser.get("/partials/apps/web/row")
    assert row.status_code == 200
    assert row.text.lstrip().startswith('<tr data-app="web">'), row.text
    whole = re.search(r'<tr data-app="web">.*?</tr>', browser.get("/").text, re.S)
    ageless = re.compile(r'<span class="muted">[^<]*</span>')  # "3 s ago" may tick in between
    assert whole and ageless.sub("", whole.group(0)) in ageless.sub("", row.text), "the table's row"
    gone = browser.get("/partials/apps/nobody/row")
    assert (gone.status_code, gone.text) == (200, ""), "a destroyed app's row is swapped for nothing"
    assert browser.get("/partials/apps/%3Cscript%3E/row").status_code == 400


def test_the_dashboard_shows_each_domains_certificate_state(browser: Browser) -> None:
    browser.bed.create_app("web")
    browser.bed.services.apps.add_domain("web", "web.example.com")  # the fake CA issues at once
    deadline = time.monotonic() + 10
    while not browser.bed.services.certificates.report("web").served:
        assert time.monotonic() < deadline, "no certificate from the fake CA"
        time.sleep(0.02)
    row = browser.get("/partials/apps/web/row").text
    assert 'href="https://web.example.com' in row
    assert '<span class="cert cert-ok">HTTPS</span>' in row


def test_creating_an_app_from_the_dashboard(browser: Browser) -> None:
    response = browser.post("/apps", {"name": "shop"})
    assert response.status_code == 303
    assert response.headers["location"] == "/apps/shop"
    assert browser.bed.services.apps.get("shop").name == "shop"
    page = browser.get("/apps/shop")
    assert page.status_code == 200
    assert "No release yet" in page.text


def test_a_hostile_app_name_is_refused_next_to_the_field_with_the_api_rule(browser: Browser) -> None:
    response = browser.post("/apps", {"name": "app; rm -rf /"})
    assert response.status_code == 400
    assert 'id="create-error"' in response.text
    assert "rm -rf /" in response.text  # the value is shown back, escaped
    api = browser.bed.post("/api/v1/apps", json={"name": "app; rm -rf /"})
    assert api.status_code == 400


def test_every_form_is_refused_without_the_csrf_token(browser: Browser) -> None:
    deployed(browser, "web")
    for url, form in [
        ("/apps", {"name": "other"}),
        ("/apps/web/config", {"key": "A", "value": "1"}),
        ("/apps/web/config/unset", {"key": "A"}),
        ("/apps/web/domains", {"domain": "web.example.com"}),
        ("/apps/web/domains/remove", {"domain": "web.example.com"}),
        ("/apps/web/scale", {"web": "2"}),
        ("/apps/web/restart", {}),
        ("/apps/web/rollback", {"to": "1"}),
        ("/logout", {}),
    ]:
        response = browser.post(url, form, csrf=False)
        assert response.status_code == 403, url
        assert "CSRF" in response.text
        wrong = browser.client.post(url, data={**form, "csrf": "forged"}, follow_redirects=False)
        assert wrong.status_code == 403, url
    assert [app.name for app in browser.bed.services.apps.all()] == ["web"]
    assert browser.bed.services.apps.get("web").domains == ()


def test_the_csrf_token_is_accepted_as_an_htmx_header(browser: Browser) -> None:
    response = browser.client.post(
        "/apps", data={"name": "viahtmx"}, headers={"X-CSRF-Token": browser.csrf}, follow_redirects=False
    )
    assert response.status_code == 303


def test_gets_change_nothing(browser: Browser) -> None:
    deployed(browser, "web")
    for url in ["/apps/web/restart", "/apps/web/rollback", "/apps/web/config", "/logout"]:
        assert browser.get(url).status_code == 404, url
    assert browser.get("/").status_code == 200  # still logged in


def test_a_config_change_makes_a_new_release_and_values_are_escaped_and_masked(browser: Browser) -> None:
    deployed(browser, "web")
    response = browser.post("/apps/web/config", {"key": "GREETING", "value": HOSTILE})
    assert response.status_code == 303
    settled(browser)
    page = browser.get("/apps/web")
    assert "GREETING" in page.text
    assert "<script>alert" not in page.text
    assert "alert(1)" not in page.text  # masked: the value is not in the page at all
    assert browser.bed.services.apps.config("web", reveal=True)["GREETING"] == HOSTILE
    assert browser.bed.services.apps.get("web").current_release == 2
    assert "v2" in page.text and "(current)" in page.text
    removed = browser.post("/apps/web/config/unset", {"key": "GREETING"})
    assert removed.status_code == 303
    settled(browser)
    assert "GREETING" not in browser.bed.services.apps.config("web", reveal=False)


def test_a_bad_config_key_and_an_oversized_value_are_shown_next_to_the_config_form(browser: Browser) -> None:
    deployed(browser, "web")
    response = browser.post("/apps/web/config", {"key": "1BAD<KEY>", "value": "x"})
    assert response.status_code == 400
    assert 'id="config-error"' in response.text
    assert "<KEY>" not in response.text and "&lt;KEY&gt;" in response.text
    big = browser.post("/apps/web/config", {"key": "BIG", "value": "x" * 70_000})
    assert big.status_code == 413


def test_a_deploy_log_line_with_a_script_tag_is_escaped(browser: Browser) -> None:
    deployed(browser, "web")
    deploy = browser.bed.services.history.of_app("web", limit=1)[0]
    browser.bed.services.logs.append(deploy.id, HOSTILE)
    page = browser.get(f"/deploys/{deploy.id}")
    assert page.status_code == 200
    assert HOSTILE not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_domains_add_and_remove_with_errors_next_to_the_domain_field(browser: Browser) -> None:
    deployed(browser, "web")
    assert browser.post("/apps/web/domains", {"domain": "shop.example.com"}).status_code == 303
    assert browser.bed.services.apps.get("web").domains == ("shop.example.com",)
    bad = browser.post("/apps/web/domains", {"domain": "evil.com; return 200"})
    assert bad.status_code == 400
    assert 'id="domains-error"' in bad.text
    assert browser.post("/apps/web/domains/remove", {"domain": "shop.example.com"}).status_code == 303
    assert browser.bed.services.apps.get("web").domains == ()


def test_scale_restart_and_rollback(browser: Browser) -> None:
    deployed(browser, "web")
    browser.post("/apps/web/config", {"key": "A", "value": "1"})
    settled(browser)
    assert browser.bed.services.apps.get("web").current_release == 2
    page = browser.get("/apps/web")
    assert 'data-confirm="Roll web back to v1?"' in page.text
    assert browser.post("/apps/web/rollback", {"to": "1"}).status_code == 303
    settled(browser)
    assert browser.bed.services.history.of_app("web", limit=1)[0].status == DeployStatus.SUCCEEDED
    assert browser.bed.services.apps.get("web").current_release == 1
    assert browser.post("/apps/web/restart").status_code == 303
    bad_scale = browser.post("/apps/web/scale", {"web": "many"})
    assert bad_scale.status_code == 400
    assert 'id="scale-error"' in bad_scale.text
    assert browser.post("/apps/web/scale", {"web": "999"}).status_code == 400
    assert browser.post("/apps/web/scale", {"web": "2"}).status_code == 303
    bad_rollback = browser.post("/apps/web/rollback", {"to": "77"})
    assert bad_rollback.status_code == 404
    assert 'id="releases-error"' in bad_rollback.text


def test_missing_pages_apps_and_deploys_answer_a_404_page(browser: Browser) -> None:
    for url in ["/no/such/page", "/apps/nosuchapp", "/deploys/nosuchdeploy", "/apps/Bad%20Name"]:
        response = browser.get(url)
        assert response.status_code in (404, 400), url
        assert response.headers["content-type"].startswith("text/html"), url
        assert "Back to the apps" in response.text
    assert browser.post("/apps/nosuchapp/restart").status_code == 404
    api = browser.bed.get("/api/v1/apps/nosuchapp")
    assert api.status_code == 404 and api.json()["detail"]


def test_static_files_are_served(browser: Browser) -> None:
    for name in ["htmx.min.js", "live.js", "style.css", "LICENSE-htmx.txt"]:
        assert browser.get(f"/static/{name}").status_code == 200, name
