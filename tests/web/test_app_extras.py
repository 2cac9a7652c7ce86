"""The app page's additions over the real services: destroy with the typed name, Deploy now,
container logs, certificate states, the git side, secrets revealed on request, live figures.
Each change is refused without the CSRF token, with a hostile name, or by GET."""

import json
import re
import subprocess
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from controller.domain.certificates import ChallengeFailed, ChallengeFailure
from controller.domain.errors import DockyardError, NotFound
from controller.domain.git_records import WebhookDelivery
from controller.domain.models import HEALTH_CHECK_USER_AGENT
from controller.web.session import CSRF_HEADER
from tests.api.conftest import Bed
from tests.api.test_redeploy import GIT_ENV, commit_dockerfile
from tests.web.conftest import ADMIN, Browser, add_user, browser_of

HOSTILE = "<script>alert(1)</script>"
HOSTILE_NAMES = ["%3Cscript%3E", "UPPER", "a..b", "x" * 40, "app;rm"]


def deployed(browser: Browser, name: str = "web") -> None:
    browser.bed.create_app(name)
    assert browser.bed.deploy(name)["status"] == "succeeded"


def exists(browser: Browser, name: str) -> bool:
    try:
        browser.bed.services.apps.get(name)
    except NotFound:
        return False
    return True


def htmx_post(browser: Browser, url: str, data: dict[str, str]) -> Any:
    """What htmx sends: the form, the HX-Request header and the CSRF header from <body>."""
    return browser.client.post(
        url,
        data=data,
        headers={"HX-Request": "true", CSRF_HEADER: browser.csrf},
        follow_redirects=False,
    )


# -- destroy ----------------------------------------------------------------------------------


def test_destroy_needs_the_app_name_typed_exactly(browser: Browser) -> None:
    deployed(browser)
    page = browser.get("/apps/web")
    assert 'action="/apps/web/destroy"' in page.text
    assert 'data-must-match="web"' in page.text
    for typed in ["", "we", "WEB", " web", "other"]:
        refused = browser.post("/apps/web/destroy", {"confirm": typed})
        assert refused.status_code == 400, typed
        error = re.search(r'<p class="error" id="destroy-error" role="alert">(.*?)</p>', refused.text, re.S)
        assert error, refused.text
        assert "Nothing was destroyed" in error.group(1)
        assert exists(browser, "web")
    assert browser.bed.runtime.list_containers("web")

    done = browser.post("/apps/web/destroy", {"confirm": "web"})
    assert done.status_code == 303
    assert done.headers["location"] == "/"
    assert not exists(browser, "web")
    assert not browser.bed.runtime.list_containers("web")
    assert browser.get("/apps/web").status_code == 404


def test_destroy_is_refused_without_csrf_by_get_and_for_hostile_names(browser: Browser) -> None:
    deployed(browser)
    assert browser.post("/apps/web/destroy", {"confirm": "web"}, csrf=False).status_code == 403
    wrong_token = browser.client.post(
        "/apps/web/destroy", data={"confirm": "web", "csrf": "forged"}, follow_redirects=False
    )
    assert wrong_token.status_code == 403
    assert browser.get("/apps/web/destroy").status_code in (404, 405)
    assert browser.get("/apps/web/destroy?confirm=web").status_code in (404, 405)
    assert exists(browser, "web")
    for name in HOSTILE_NAMES:
        response = browser.post(f"/apps/{name}/destroy", {"confirm": name})
        assert response.status_code in (400, 404), name
        assert "<script>" not in response.text
    assert browser.post("/apps/nosuchapp/destroy", {"confirm": "nosuchapp"}).status_code == 404
    assert exists(browser, "web")


def test_a_logged_out_browser_cannot_destroy(browser: Browser) -> None:
    deployed(browser)
    browser.client.cookies.clear()
    response = browser.post("/apps/web/destroy", {"confirm": "web"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    assert exists(browser, "web")


# -- deploy now -------------------------------------------------------------------------------


def test_deploy_now_of_an_uploaded_app_says_why_next_to_the_button(browser: Browser) -> None:
    deployed(browser)
    before = len(browser.bed.services.history.of_app("web", limit=50))
    response = browser.post("/apps/web/redeploy")
    assert response.status_code == 409
    error = re.search(r'id="redeploy-error" role="alert">(.*?)</p>', response.text, re.S)
    assert error, response.text
    assert "source" in error.group(1)
    assert len(browser.bed.services.history.of_app("web", limit=50)) == before


def test_deploy_now_builds_the_pushed_source_again(browser: Browser, tmp_path: Path) -> None:
    browser.bed.create_app("web")
    commit_dockerfile(tmp_path / "src", "FROM scratch\n")
    repo = browser.bed.settings.git_dir / "repos" / "web.git"
    subprocess.run(
        ["git", "--git-dir", str(repo), "fetch", "--quiet", str(tmp_path / "src"), "main:main"],
        env=GIT_ENV,
        check=True,
    )
    assert browser.post("/apps/web/redeploy", csrf=False).status_code == 403
    assert browser.bed.services.history.of_app("web", limit=5) == []
    response = browser.post("/apps/web/redeploy")
    assert response.status_code == 303
    assert response.headers["location"] == "/apps/web"
    (deploy,) = browser.bed.services.history.of_app("web", limit=5)
    assert deploy.kind == "build"
    assert f"by {ADMIN}" in (deploy.description or "")
    browser.bed.services.deploys.wait(deploy.id, 10)
    assert browser.bed.services.apps.get("web").current_release == 1


# -- container logs ---------------------------------------------------------------------------


def test_the_container_logs_page_shows_the_tail_and_the_stream_follows(browser: Browser) -> None:
    deployed(browser)
    page = browser.get("/apps/web/logs")
    assert page.status_code == 200
    assert "hello from" in page.text
    assert 'data-follow-container="/live/apps/web/logs?tail=200"' in page.text
    for asked, shown in [("0", 1), ("100000", 1000), ("-5", 200), ("abc", 200), ("10", 10)]:
        bounded = browser.get(f"/apps/web/logs?tail={asked}")
        assert bounded.status_code == 200, asked
        assert f'data-follow-container="/live/apps/web/logs?tail={shown}"' in bounded.text, asked
    assert browser.get("/live/apps/web/logs?tail=abc").status_code == 200

    stream = browser.get("/live/apps/web/logs?tail=10")
    assert stream.status_code == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    events = re.findall(r"event: (\w+)\ndata: (.*)\n\n", stream.text)
    assert events[-1] == ("end", '""')
    lines = [line for kind, data in events if kind == "lines" for line in json.loads(data)]
    assert lines and all("hello from" in line for line in lines)


def test_container_log_lines_are_escaped(browser: Browser, monkeypatch: pytest.MonkeyPatch) -> None:
    deployed(browser)
    runtime = browser.bed.runtime
    original = runtime.follow_logs

    def hostile(*args: Any, **kwargs: Any) -> Any:
        lines = original(*args, **kwargs)
        lines._lines.append(HOSTILE)
        lines._lines.append(f'10.0.0.1 "GET /health" 200 "{HEALTH_CHECK_USER_AGENT}"')
        return lines

    monkeypatch.setattr(runtime, "follow_logs", hostile)
    page = browser.get("/apps/web/logs")
    assert HOSTILE not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "GET /health" not in page.text  # Dockyard's own health checks are left out
    stream = browser.get("/live/apps/web/logs")
    assert "alert(1)" in stream.text  # JSON in the stream; app.js adds it as text, not HTML
    assert "GET /health" not in stream.text


def test_container_logs_of_a_hostile_or_missing_app_are_an_error_page(browser: Browser) -> None:
    for name in HOSTILE_NAMES:
        for url in (f"/apps/{name}/logs", f"/live/apps/{name}/logs"):
            response = browser.get(url)
            assert response.status_code in (400, 404), url
            assert "<script>" not in response.text
    assert browser.get("/apps/nosuchapp/logs").status_code == 404


def test_container_logs_need_a_session(browser: Browser) -> None:
    deployed(browser)
    browser.client.cookies.clear()
    assert browser.get("/apps/web/logs").status_code == 303
    assert browser.get("/live/apps/web/logs").status_code == 303


# -- config values revealed one at a time -----------------------------------------------------


def configured(browser: Browser) -> None:
    deployed(browser)
    services = browser.bed.services
    change = services.deploys.submit_config_change(
        "web", set_={"API_KEY": "s3cr3t-value", "EVIL": HOSTILE}, unset=[]
    ).result()
    services.deploys.wait(change.id, 10)
    assert set(services.apps.config("web", reveal=False)) == {"API_KEY", "EVIL"}


def test_config_values_are_masked_until_one_is_revealed(browser: Browser) -> None:
    configured(browser)
    page = browser.get("/apps/web")
    assert "s3cr3t-value" not in page.text
    assert "alert(1)" not in page.text
    assert 'aria-label="Reveal the value of API_KEY"' in page.text

    shown = htmx_post(browser, "/apps/web/config/reveal", {"key": "API_KEY"})
    assert shown.status_code == 200
    assert shown.text.strip().startswith('<span id="config-API_KEY">')
    assert '<code class="secret" id="config-API_KEY-value">s3cr3t-value</code>' in shown.text
    assert "EVIL" not in shown.text

    evil = htmx_post(browser, "/apps/web/config/reveal", {"key": "EVIL"})
    assert HOSTILE not in evil.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in evil.text


def test_reveal_works_without_javascript_as_the_app_page(browser: Browser) -> None:
    configured(browser)
    page = browser.post("/apps/web/config/reveal", {"key": "API_KEY"})
    assert page.status_code == 200
    assert "<h1>web" in page.text
    assert 'id="config-API_KEY-value">s3cr3t-value</code>' in page.text
    assert 'aria-label="Reveal the value of EVIL"' in page.text  # the others stay masked
    assert page.headers["cache-control"] == "no-store"


def test_reveal_is_refused_without_csrf_by_get_and_for_bad_keys(browser: Browser) -> None:
    configured(browser)
    no_token = browser.post("/apps/web/config/reveal", {"key": "API_KEY"}, csrf=False)
    assert no_token.status_code == 403
    assert "s3cr3t-value" not in no_token.text
    header_only = browser.client.post(
        "/apps/web/config/reveal", data={"key": "API_KEY"}, headers={"HX-Request": "true"}
    )
    assert header_only.status_code == 403
    assert "s3cr3t-value" not in header_only.text
    assert browser.get("/apps/web/config/reveal?key=API_KEY").status_code in (404, 405)

    missing = htmx_post(browser, "/apps/web/config/reveal", {"key": "NOPE"})
    assert "has no config var NOPE" in missing.text
    bad = htmx_post(browser, "/apps/web/config/reveal", {"key": HOSTILE})
    assert "invalid config key" in bad.text
    assert HOSTILE not in bad.text
    plain = browser.post("/apps/web/config/reveal", {"key": "NOPE"})
    assert plain.status_code == 404
    assert re.search(r'id="config-error" role="alert">[^<]*has no config var NOPE', plain.text)
    assert browser.post("/apps/nosuchapp/config/reveal", {"key": "API_KEY"}).status_code == 404


# -- domains and certificates -----------------------------------------------------------------


def test_domains_show_their_certificate_state_and_the_cas_last_error(
    browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployed(browser)
    services = browser.bed.services
    services.apps.add_domain("web", "good.example.com")
    with suppress(DockyardError):
        services.certificates.issue("web")
    page = browser.get("/apps/web")
    assert re.search(r"good\.example\.com</a>\s*<span class=\"cert cert-valid\">certificate valid", page.text)

    def refuse(domains: Any, *, log: Any) -> Any:
        raise ChallengeFailed([ChallengeFailure("bad.example.com", "connection", f"no answer {HOSTILE}")])

    monkeypatch.setattr(browser.bed.issuer, "issue", refuse)
    services.apps.add_domain("web", "bad.example.com")
    with suppress(DockyardError):
        services.certificates.issue("web")
    page = browser.get("/apps/web")
    assert 'class="cert cert-failing">certificate failing' in page.text
    error = re.search(r'<span class="error cert-error">(.*?)</span>', page.text, re.S)
    assert error, page.text
    assert "no answer" in error.group(1)
    assert HOSTILE not in page.text
    assert "&lt;script&gt;" in error.group(1)


# -- git side ---------------------------------------------------------------------------------


def test_the_git_side_shows_remotes_webhook_urls_and_deliveries_but_not_the_secret(browser: Browser) -> None:
    deployed(browser)
    services = browser.bed.services
    info = services.git.sources.info("web")
    store = cast(Any, services.git.store)
    store.add_webhook_deliveries(
        [
            WebhookDelivery(
                app="web",
                provider="github",
                delivery_id="d-1",
                branch="main",
                commit="ab" * 20,
                received_at=datetime.now(UTC),
                error=HOSTILE,
            )
        ]
    )
    page = browser.get("/apps/web")
    assert f'<code id="git-ssh">git remote add dockyard {info.ssh_remote}</code>' in page.text
    assert f'<code id="git-http">git remote add dockyard {info.http_remote}</code>' in page.text
    for provider, url in info.webhook_urls.items():
        assert f'<code id="webhook-{provider}">{url}</code>' in page.text
        assert f'data-copy="webhook-{provider}"' in page.text
    assert info.source.webhook_secret not in page.text
    assert "Reveal secret" in page.text
    assert "abababababab" in page.text  # the delivery's commit, shortened
    assert "Recent webhook deliveries" in page.text
    assert HOSTILE not in page.text


def test_the_webhook_secret_is_revealed_on_request_only(browser: Browser) -> None:
    deployed(browser)
    secret = browser.bed.services.git.sources.source("web").webhook_secret
    assert browser.get("/apps/web/git/secret").status_code in (404, 405)
    refused = browser.post("/apps/web/git/secret", csrf=False)
    assert refused.status_code == 403
    assert secret not in refused.text
    shown = htmx_post(browser, "/apps/web/git/secret", {})
    assert shown.status_code == 200
    assert f'<code class="secret" id="webhook-secret-value">{secret}</code>' in shown.text
    page = browser.post("/apps/web/git/secret")
    assert page.status_code == 200
    assert f'id="webhook-secret-value">{secret}</code>' in page.text
    for name in HOSTILE_NAMES:
        assert browser.post(f"/apps/{name}/git/secret").status_code in (400, 404)


# -- live figures -----------------------------------------------------------------------------


def test_figures_are_numbers_on_the_page_and_a_fragment_for_the_charts(browser: Browser) -> None:
    deployed(browser)
    app_page = browser.get("/apps/web")
    assert 'id="stats-charts"' in app_page.text
    assert 'data-stats-src="/partials/apps/web/stats"' in app_page.text
    page = browser.get("/apps/web/stats")
    assert page.status_code == 200
    assert re.search(r'data-series="CPU % of [^"]+" data-value="12.5">12.5<', page.text)
    assert re.search(r'data-series="memory MiB of [^"]+" data-value="8.0">8.0', page.text)
    assert "of 512.0" in page.text
    fragment = browser.get("/partials/apps/web/stats")
    assert fragment.text.startswith('<div id="app-stats-figures"')
    assert "<html" not in fragment.text
    for name in HOSTILE_NAMES:
        assert browser.get(f"/apps/{name}/stats").status_code in (400, 404)
        assert browser.get(f"/partials/apps/{name}/stats").status_code in (400, 404)


def test_figures_say_so_in_words_when_docker_does_not_answer(browser: Browser) -> None:
    deployed(browser)
    browser.bed.runtime.down = True
    try:
        page = browser.get("/partials/apps/web/stats")
    finally:
        browser.bed.runtime.down = False
    assert page.status_code == 200
    assert "The figures are not available" in page.text


def test_the_app_page_links_logs_and_figures_and_loads_its_script(browser: Browser) -> None:
    deployed(browser)
    page = browser.get("/apps/web")
    assert 'href="/apps/web/logs"' in page.text
    assert 'href="/apps/web/stats"' in page.text
    assert '<script src="/static/app.js" defer></script>' in page.text
    assert browser.get("/static/app.js").status_code == 200
    assert browser.get("/static/app.css").status_code == 200
    assert "<script>" not in page.text.replace('<script src="/static/app.js" defer></script>', "")


# -- who may do what --------------------------------------------------------------------------


def test_a_viewer_reads_logs_and_figures_but_reveals_and_destroys_nothing(bed: Bed) -> None:
    bed.create_app("web")
    assert bed.deploy("web")["status"] == "succeeded"
    change = bed.services.deploys.submit_config_change("web", set_={"API_KEY": "s3cr3t-value"}, unset=[])
    bed.services.deploys.wait(change.result().id, 10)
    add_user(bed, "vera", "viewer")
    viewer = browser_of(bed, "vera")
    secret = bed.services.git.sources.source("web").webhook_secret

    page = viewer.get("/apps/web")
    assert page.status_code == 200
    for absent in ("Deploy now", "Reveal", "/destroy", "Type <strong>web</strong>", secret, "s3cr3t-value"):
        assert absent not in page.text, absent
    assert "git remote add dockyard" in page.text  # reading the remotes is reading
    assert viewer.get("/apps/web/logs").status_code == 200
    assert viewer.get("/apps/web/stats").status_code == 200
    assert viewer.get("/partials/apps/web/stats").status_code == 200

    for url, form in [
        ("/apps/web/config/reveal", {"key": "API_KEY"}),
        ("/apps/web/git/secret", {}),
        ("/apps/web/redeploy", {}),
        ("/apps/web/destroy", {"confirm": "web"}),
    ]:
        refused = viewer.post(url, form)
        assert refused.status_code == 403, url
        assert "Not allowed" in refused.text
        assert "s3cr3t-value" not in refused.text and secret not in refused.text
        htmx = htmx_post(viewer, url, form)
        assert htmx.status_code == 403, url
        assert "s3cr3t-value" not in htmx.text and secret not in htmx.text
    assert exists(viewer, "web")
    assert len(bed.services.history.of_app("web", limit=50)) == 2


def test_a_developer_reveals_but_may_not_destroy_nor_touch_other_apps(bed: Bed) -> None:
    bed.create_app("web")
    bed.create_app("shop")
    add_user(bed, "dora", "developer", ["web"])
    dev = browser_of(bed, "dora")
    page = dev.get("/apps/web")
    assert "Reveal secret" in page.text
    assert "/destroy" not in page.text
    assert htmx_post(dev, "/apps/web/git/secret", {}).status_code == 200
    assert dev.post("/apps/web/destroy", {"confirm": "web"}).status_code == 403
    assert exists(dev, "web")
    for url in ("/apps/shop/logs", "/live/apps/shop/logs", "/apps/shop/stats", "/partials/apps/shop/stats"):
        assert dev.get(url).status_code == 403, url
    shop_secret = bed.services.git.sources.source("shop").webhook_secret
    refused = dev.post("/apps/shop/git/secret")
    assert refused.status_code == 403
    assert shop_secret not in refused.text


def test_each_secret_shown_is_in_the_audit_trail_with_who_asked(browser: Browser) -> None:
    configured(browser)
    htmx_post(browser, "/apps/web/config/reveal", {"key": "API_KEY"})
    browser.post("/apps/web/git/secret")
    browser.post("/apps/web/config/reveal", {"key": "API_KEY"}, csrf=False)  # refused: audited too
    audit = browser.bed.get("/api/v1/audit", params={"app": "web"}).json()
    seen = [(e["actor"], e["action"], e["outcome"]) for e in audit]
    assert (ADMIN, "reveal_config_value", "ok") in seen, seen
    assert (ADMIN, "reveal_webhook_secret", "ok") in seen, seen
    assert any(action == "reveal_config_value" and outcome == "denied" for _, action, outcome in seen), seen


def test_container_log_streams_of_one_app_are_capped_and_refused_in_words(browser: Browser) -> None:
    deployed(browser)
    followers = cast(Any, browser.client.app).state.followers
    slots = [followers.acquire("web") for _ in range(browser.bed.settings.max_followers_per_app)]
    try:
        refused = browser.get("/live/apps/web/logs")
        assert refused.status_code == 429
        assert "already has" in refused.text and "open streams" in refused.text
    finally:
        for slot in slots:
            slot.release()
    assert browser.get("/live/apps/web/logs").status_code == 200
    assert followers.open == 0  # the finished stream gave its slot back
