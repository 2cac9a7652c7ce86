"""Create an app in the GUI (`/new`): from a git repository (deployed at once, its build log and
webhook on the setup page), private with a token or a deploy key, or empty with its remotes.
Refused input changes nothing and is shown next to its field, with the API's rules."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.domain.account_records import AuditQuery
from tests.api.conftest import Bed, open_bed
from tests.api.test_redeploy import commit_dockerfile
from tests.web.conftest import ADMIN, Browser, add_user, browser_of

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def local_bed(tmp_path: Path, migrated_database: Path) -> Iterator[Bed]:
    """A controller that may fetch from local and private repositories (file://, loopback)."""
    with open_bed(
        tmp_path, migrated_database, git_allow_local_sources=True, git_allow_private_sources=True
    ) as opened:
        yield opened


@pytest.fixture
def local(local_bed: Bed) -> Browser:
    add_user(local_bed, ADMIN, "admin")
    return browser_of(local_bed, ADMIN)


def app_names(browser: Browser) -> list[str]:
    return [app.name for app in browser.bed.services.apps.all()]


def error_of(html: str, field_id: str, *, described: bool = True) -> str:
    """The error shown next to the field `field_id` (which points at it), else ''."""
    match = re.search(rf'<p class="error" id="{field_id}-error" role="alert">([^<]*)</p>', html)
    if match is None:
        return ""
    assert not described or f'aria-describedby="{field_id}-error"' in html, field_id
    return match.group(1)


def test_the_form_is_linked_from_the_dashboard_and_offers_both_ways(browser: Browser) -> None:
    assert '<a href="/new">' in browser.get("/").text
    page = browser.get("/new")
    assert page.status_code == 200
    for field in ('name="name"', 'name="repo_url"', 'name="branch"', 'name="token"', 'value="empty"'):
        assert field in page.text, field
    assert 'value="main"' in page.text
    assert 'placeholder="https://github.com/you/app.git"' in page.text


def test_a_repository_app_is_deployed_at_once_with_its_log_and_webhook_on_screen(
    local: Browser, tmp_path: Path
) -> None:
    bed = local.bed
    head = commit_dockerfile(tmp_path / "src", "FROM scratch\n")
    response = local.post("/new", {"name": "web", "source": "repo", "repo_url": f"file://{tmp_path}/src"})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/apps/web/setup"
    source = bed.services.git.sources.source("web")
    assert (source.repo_url, source.branch) == (f"file://{tmp_path}/src", "main")
    (deploy,) = bed.services.history.of_app("web", limit=10)
    assert deploy.description == f"redeploy of the head of main (source repository) by {ADMIN}"

    live = local.get("/apps/web/setup")
    assert live.status_code == 200
    if not bed.services.history.get(deploy.id).status.is_final:
        assert (
            'id="live-log" aria-label="Build log" aria-live="polite" '
            f'data-follow="/live/deploys/{deploy.id}/lines" data-from="' in live.text
        )
    else:
        assert 'id="build-log"' in live.text
    assert bed.finished(deploy.id)["status"] == "succeeded"
    done = local.get("/apps/web/setup").text
    assert f"main is at {head[:12]}" in done and "data-follow" not in done and 'id="build-log"' in done
    assert '<div id="app-live" data-live-reload="web">' in done  # reloads on the app's events
    assert "http://testserver/hooks/github/web" in done
    assert "http://testserver/hooks/gitlab/web" in done
    assert source.webhook_secret not in done  # shown on request only
    shown = local.get("/apps/web/setup?secret=shown").text
    assert f'id="webhook-secret">{source.webhook_secret}<' in shown


def test_a_private_https_repository_takes_its_token(local: Browser) -> None:
    response = local.post(
        "/new",
        {"name": "priv", "repo_url": "http://127.0.0.1:9/team/app.git", "branch": "prod", "token": "s3cret"},
    )
    assert response.status_code == 303, response.text
    source = local.bed.services.git.sources.source("priv")
    assert (source.repo_url, source.branch, source.repo_token) == (
        "http://127.0.0.1:9/team/app.git",
        "prod",
        "s3cret",
    )
    (deploy,) = local.bed.services.history.of_app("priv", limit=10)
    assert local.bed.finished(deploy.id)["status"] == "failed"  # nothing listens on port 9
    page = local.get("/apps/priv/setup").text
    assert "(with its token)" in page and "s3cret" not in page


def test_an_ssh_repository_gets_a_deploy_key_to_copy_and_deploys_on_request(browser: Browser) -> None:
    response = browser.post("/new", {"name": "keyed", "repo_url": "git@github.com:team/app.git"})
    assert response.status_code == 303, response.text
    source = browser.bed.services.git.sources.source("keyed")
    assert source.deploy_key_public and source.deploy_key_public.startswith("ssh-ed25519 ")
    assert browser.bed.services.history.of_app("keyed", limit=10) == []  # not before the key is added
    page = browser.get("/apps/keyed/setup").text
    assert f'<textarea id="deploy-key" readonly rows="3">{source.deploy_key_public}</textarea>' in page
    assert source.deploy_key and source.deploy_key not in page  # the private half never leaves
    assert 'action="/apps/keyed/redeploy"' in page


def test_deploy_now_on_the_setup_page_builds_the_head_again(local: Browser, tmp_path: Path) -> None:
    commit_dockerfile(tmp_path / "src", "FROM scratch\n")
    assert local.post("/new", {"name": "web", "repo_url": f"file://{tmp_path}/src"}).status_code == 303
    (first,) = local.bed.services.history.of_app("web", limit=10)
    local.bed.finished(first.id)
    assert 'action="/apps/web/redeploy"' in local.get("/apps/web/setup").text
    again = local.post("/apps/web/redeploy")
    assert again.status_code == 303, again.text
    assert len(local.bed.services.history.of_app("web", limit=10)) == 2


def test_an_empty_app_shows_its_git_remote_add_lines(browser: Browser) -> None:
    response = browser.post("/new", {"name": "bare", "source": "empty", "repo_url": "ignored"})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/apps/bare/setup"
    assert browser.bed.services.git.sources.source("bare").repo_url is None
    assert browser.bed.services.history.of_app("bare", limit=10) == []
    page = browser.get("/apps/bare/setup").text
    info = browser.bed.services.git.sources.info("bare")
    assert f"git remote add dockyard {info.ssh_remote}" in page
    assert "git remote add dockyard http://testserver/git/bare.git" in page
    assert "git push dockyard main" in page
    audit = browser.bed.services.accounts.audit
    audit.flush()
    (made,) = [e for e in audit.query(AuditQuery(app="bare")) if e.action == "new_app"]
    assert (made.actor, made.outcome) == (ADMIN, "ok")
    assert "Deploy now" not in page  # nothing to fetch


BAD = [
    ({"name": "app; rm -rf /", "source": "empty"}, "app-name", "invalid app name"),
    ({"name": "x" * 31, "source": "empty"}, "app-name", "longer than 30"),
    ({"name": "api", "source": "empty"}, "app-name", "reserved"),
    ({"name": "ok", "repo_url": ""}, "repo-url", "give the repository"),
    ({"name": "ok", "repo_url": "ext::sh -c touch% /tmp/pwned"}, "repo-url", "spaces"),
    ({"name": "ok", "repo_url": "ext::sh"}, "repo-url", "unsupported repository URL"),
    ({"name": "ok", "repo_url": "file:///etc"}, "repo-url", "DOCKYARD_GIT_ALLOW_LOCAL_SOURCES"),
    ({"name": "ok", "repo_url": "https://127.0.0.1/x.git"}, "repo-url", "127.0.0.1"),
    ({"name": "ok", "repo_url": "https://10.1.2.3/x.git"}, "repo-url", "10.1.2.3"),
    ({"name": "ok", "repo_url": "https://example.com/" + "x" * 2000}, "repo-url", "1-2000"),
    ({"name": "ok", "repo_url": "https://example.com/x.git", "branch": "-x"}, "branch", "branch"),
    ({"name": "ok", "repo_url": "https://example.com/x.git", "branch": "a..b"}, "branch", "branch"),
    ({"name": "ok", "repo_url": "git@example.com:x.git", "token": "t"}, "token", "https://"),
    ({"name": "ok", "repo_url": "https://example.com/x.git", "token": "t" * 4097}, "token", "4096"),
    ({"name": "ok", "source": "svn"}, "source", "choose"),
]


@pytest.mark.parametrize(("form", "field", "says"), BAD, ids=[f"{f}:{s}" for _, f, s in BAD])
def test_bad_input_is_shown_next_to_its_field_and_changes_nothing(
    browser: Browser, form: dict[str, str], field: str, says: str
) -> None:
    response = browser.post("/new", form)
    assert response.status_code == 400, response.text
    assert says in error_of(response.text, field), response.text
    assert app_names(browser) == []
    assert list((browser.bed.settings.git_dir / "repos").glob("*")) == []


def test_a_refused_form_keeps_what_was_typed_escaped_but_never_the_token(browser: Browser) -> None:
    form = {
        "name": HOSTILE,
        "repo_url": f"https://example.com/{HOSTILE}",
        "branch": HOSTILE,
        "token": "tok-never-shown",
    }
    page = browser.post("/new", form).text
    assert HOSTILE not in page and "&lt;script&gt;" in page
    assert error_of(page, "app-name") and error_of(page, "branch")
    assert "tok-never-shown" not in page


def test_the_api_refuses_what_the_form_refuses(browser: Browser) -> None:
    bed = browser.bed
    bed.create_app("web")
    for url in ("https://127.0.0.1/x.git", "ext::sh", "file:///etc"):
        assert bed.put("/api/v1/apps/web/source", json={"repo_url": url}).status_code == 400, url
        assert browser.post("/new", {"name": "other", "repo_url": url}).status_code == 400, url


def test_an_existing_name_is_a_409_next_to_the_name(browser: Browser) -> None:
    browser.bed.create_app("web")
    response = browser.post("/new", {"name": "web", "source": "empty"})
    assert response.status_code == 409
    assert "already exists" in error_of(response.text, "app-name")
    assert app_names(browser) == ["web"]


def test_without_the_csrf_token_nothing_is_created(local: Browser, tmp_path: Path) -> None:
    commit_dockerfile(tmp_path / "src", "FROM scratch\n")
    for form in ({"name": "web", "repo_url": f"file://{tmp_path}/src"}, {"name": "bare", "source": "empty"}):
        response = local.post("/new", form, csrf=False)
        assert response.status_code == 403 and "CSRF" in response.text
        forged = local.client.post("/new", data={**form, "csrf": "forged"}, follow_redirects=False)
        assert forged.status_code == 403
    assert app_names(local) == []


@pytest.mark.parametrize("role", ["viewer", "developer"])
def test_a_viewer_or_developer_may_not_create_apps(bed: Bed, role: str) -> None:
    add_user(bed, "someone", role)
    user = browser_of(bed, "someone")
    assert '<a href="/new">' not in user.get("/").text
    assert user.get("/new").status_code == 403
    response = user.post("/new", {"name": "mine", "source": "empty"})
    assert response.status_code == 403 and "Not allowed" in response.text
    assert bed.services.apps.all() == []


def test_the_setup_page_needs_operate_rights(bed: Bed) -> None:
    bed.create_app("web")
    bed.create_app("shop")
    add_user(bed, "vera", "viewer")
    add_user(bed, "dora", "developer", ["web"])
    viewer = browser_of(bed, "vera")
    assert viewer.get("/apps/web/setup").status_code == 403
    developer = browser_of(bed, "dora", client=None)
    assert developer.get("/apps/web/setup").status_code == 200
    assert developer.get("/apps/shop/setup").status_code == 403


def test_the_setup_page_of_no_such_app_is_a_404_page(browser: Browser) -> None:
    assert browser.get("/apps/ghost/setup").status_code == 404
    assert browser.get("/apps/%3Cscript%3E/setup").status_code == 400
