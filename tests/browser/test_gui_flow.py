"""The GUI's daily flow in a real browser against a real controller (git, Docker, nginx):

- a `git push` from the test (smart HTTP) while the app page is open: build-log lines arrive in
  the page while the build runs, then the app runs and its URL answers;
- `docker kill` of the app's container: the dashboard shows it crashed, then running again,
  with no reload of the page;
- an app created in the GUI from a git repository URL: its build log streams on screen.

Screenshots of each step go to the test's tmp dir.
"""

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import add_user, log_in
from tests.browser.test_gui import WAIT_MS, app_text
from tests.conftest import BUSYBOX_IMAGE, write_static_app
from tests.e2e.conftest import TOKEN, Controller
from tests.e2e.git_support import GitClient, TimedPush, git_controller, require_git_testbed, traversable_dir

pytestmark = [pytest.mark.browser, pytest.mark.integration]
ANSWER_BOUND = 30.0  # seconds: a bound, never reached when things work
LINES = 8  # build-log lines the slow step prints, one a second


@dataclass
class Flow:
    ctl: Controller
    client: GitClient
    base: Path

    def http_remote(self, app: str) -> str:
        return f"http://git:{TOKEN}@127.0.0.1:{self.ctl.api_port}/git/{app}.git"

    def slow_app(self, name: str, body: str) -> Path:
        """A committed repo whose build prints flow-line-1..8, a second apart, serving `body`."""
        repo = write_static_app(self.base / "work" / name, body=body)
        dockerfile = (repo / "Dockerfile").read_text()
        # A step of its own (Docker's build cache would skip a step seen before).
        nonce = f"{name}-{uuid.uuid4().hex[:8]}"
        step = f"RUN for i in $(seq 1 {LINES}); do echo flow-line-$i {nonce}; sleep 1; done\n"
        (repo / "Dockerfile").write_text(
            dockerfile.replace(f"FROM {BUSYBOX_IMAGE}\n", f"FROM {BUSYBOX_IMAGE}\n{step}")
        )
        self.client.commit_all(repo, body)
        return repo

    def deploys(self, app: str) -> list[dict[str, Any]]:
        response = self.ctl.api("GET", f"/apps/{app}/deploys")
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()
        return items


@pytest.fixture(scope="module")
def flow(busybox_image: str) -> Iterator[Flow]:
    """One controller whose git side works (pushes over smart HTTP) and that may fetch local
    repositories (file://), shared by the module's tests; an admin `ada` for the browser."""
    require_git_testbed()
    with traversable_dir("dockyard-gui-flow-") as base:
        ctl = git_controller(
            base, DOCKYARD_GIT_ALLOW_LOCAL_SOURCES="true", DOCKYARD_GIT_ALLOW_PRIVATE_SOURCES="true"
        )
        ctl.start()
        try:
            add_user(ctl, "ada", "admin")
            yield Flow(ctl=ctl, client=GitClient(home=base / "client"), base=base)
        finally:
            ctl.cleanup()


def answered(ctl: Controller, app: str, body: str) -> str:
    """What the app's URL answers once it answers `body` (nginx may take a moment to reload),
    or at the bound what it answered last."""
    deadline = time.monotonic() + ANSWER_BOUND
    text = app_text(ctl, app, "/")
    while text != body and time.monotonic() < deadline:
        time.sleep(0.2)
        text = app_text(ctl, app, "/")
    return text


def shots(tmp_path: Path) -> Path:
    screens = tmp_path / "screenshots"
    screens.mkdir(exist_ok=True)
    return screens


def log_lines(page: Page, selector: str) -> list[str]:
    text: str = page.locator(selector).inner_text()
    return [line for line in text.splitlines() if "flow-line-" in line and "echo" not in line]


def test_a_git_push_streams_its_build_log_into_the_open_app_page(
    flow: Flow, page: Page, tmp_path: Path
) -> None:
    screens = shots(tmp_path)
    ctl = flow.ctl
    assert ctl.api("POST", "/apps", json={"name": "pushed"}).status_code == 201
    repo = flow.slow_app("pushed", "pushed by git")
    log_in(page, ctl)
    page.goto(ctl.url + "/apps/pushed")
    expect(page.get_by_text("No release yet").first).to_be_visible()
    page.screenshot(path=screens / "01-app-before-push.png", full_page=True)

    with ThreadPoolExecutor(1) as pool:
        push: Future[TimedPush] = pool.submit(
            flow.client.timed_push, repo, flow.http_remote("pushed"), "main"
        )
        # The deploy's first event brings the live log into the page, which then streams.
        live = page.locator("#live-log")
        expect(live).to_contain_text("flow-line-3", timeout=WAIT_MS)
        seen = log_lines(page, "#live-log")
        (deploy,) = flow.deploys("pushed")
        assert deploy["status"] == "running", deploy  # seen while the build runs, not at its end
        assert len(seen) >= 3 and f"flow-line-{LINES}" not in "\n".join(seen), seen
        page.screenshot(path=screens / "02-build-log-streaming.png", full_page=True)
        expect(live).to_contain_text(f"flow-line-{LINES}", timeout=WAIT_MS)
        pushed = push.result(timeout=300)
    assert pushed.returncode == 0, pushed.text

    # The page reloads by itself when the deploy ends: v1 runs and its URL answers.
    expect(page.get_by_text("v1 (current)")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("h1 .state")).to_have_text("running", timeout=WAIT_MS)
    assert answered(ctl, "pushed", "pushed by git") == "pushed by git"
    page.screenshot(path=screens / "03-app-running.png", full_page=True)


def test_a_killed_container_shows_crashed_then_recovered_without_a_reload(
    flow: Flow, page: Page, tmp_path: Path
) -> None:
    screens = shots(tmp_path)
    ctl = flow.ctl
    assert ctl.api("POST", "/apps", json={"name": "killed"}).status_code == 201
    ctl.cli("deploy", "killed", "--path", str(write_static_app(tmp_path / "app", body="still here")))
    assert answered(ctl, "killed", "still here") == "still here"
    log_in(page, ctl)
    row = page.locator('tr[data-app="killed"]')
    expect(row.locator(".state")).to_have_text("running")
    # Every state the row shows (rows are swapped whole), and a mark a reload would wipe.
    page.evaluate(
        """() => {
          window.flowMark = "not reloaded";
          window.flowStates = [];
          const record = () => {
            const state = document.querySelector('#apps tr[data-app="killed"] .state');
            const last = window.flowStates[window.flowStates.length - 1];
            if (state && state.textContent !== last) { window.flowStates.push(state.textContent); }
          };
          const all = {subtree: true, childList: true, characterData: true};
          new MutationObserver(record).observe(document.body, all);
        }"""
    )
    page.screenshot(path=screens / "01-dashboard-running.png", full_page=True)

    (container,) = ctl.api("GET", "/apps/killed/ps").json()["containers"]
    client = docker.from_env()
    try:
        client.containers.get(container["name"]).kill()
    finally:
        client.close()

    # However briefly the row says crashed (the reconciler replaces the container at once),
    # the observer saw it.
    page.wait_for_function("() => window.flowStates.includes('crashed')", timeout=WAIT_MS)
    page.screenshot(path=screens / "02-dashboard-crashed.png", full_page=True)
    expect(row.locator(".state")).to_have_text("running", timeout=WAIT_MS)
    page.screenshot(path=screens / "03-dashboard-recovered.png", full_page=True)
    assert page.evaluate("window.flowMark") == "not reloaded"
    states = page.evaluate("window.flowStates")
    assert "crashed" in states and states[-1] == "running", states
    assert answered(ctl, "killed", "still here") == "still here"


def test_an_app_created_from_a_repository_url_shows_its_build_log(
    flow: Flow, page: Page, tmp_path: Path
) -> None:
    screens = shots(tmp_path)
    ctl = flow.ctl
    work = flow.slow_app("fromrepo", "fetched from a repository")
    upstream = flow.base / "served" / "fromrepo.git"
    flow.client.run("clone", "-q", "--bare", str(work), str(upstream), cwd=flow.base)
    log_in(page, ctl)
    page.get_by_role("link", name="New app from a git repository").click()
    expect(page.get_by_role("heading", name="New app")).to_be_visible()

    # A refused URL first: the error next to the field, nothing made.
    page.get_by_label("App name").fill("fromrepo")
    page.get_by_label("Repository URL").fill("ext::sh -c id")
    page.get_by_role("button", name="Create app").click()
    expect(page.locator("#repo-url-error")).to_contain_text("must not contain spaces")
    assert ctl.api("GET", "/apps/fromrepo").status_code == 404
    page.screenshot(path=screens / "01-create-refused.png", full_page=True)

    page.get_by_label("Repository URL").fill(f"file://{upstream}")
    page.get_by_role("button", name="Create app").click()
    expect(page).to_have_url(ctl.url + "/apps/fromrepo/setup")
    log = page.locator("pre.log")
    expect(log).to_contain_text("flow-line-3", timeout=WAIT_MS)
    assert len(log_lines(page, "pre.log")) < LINES, "the log is shown while the build runs"
    page.screenshot(path=screens / "02-build-log.png", full_page=True)
    expect(page.get_by_text(f"{ctl.url}/hooks/github/fromrepo")).to_be_visible()

    # When the build ends the page shows its result; the app answers.
    expect(page.locator("#build-status")).to_have_text("succeeded", timeout=WAIT_MS)
    expect(log).to_contain_text(f"flow-line-{LINES}")
    assert answered(ctl, "fromrepo", "fetched from a repository") == "fetched from a repository"
    page.get_by_role("link", name="Show the webhook secret").click()
    secret = ctl.api("GET", "/apps/fromrepo/source").json()["webhook_secret"]
    expect(page.locator("#webhook-secret")).to_have_text(secret)
    page.screenshot(path=screens / "03-built-with-webhook.png", full_page=True)

    # Copy buttons put the webhook URL and the secret on the clipboard.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    for name, text in (
        ("GitHub webhook URL", f"{ctl.url}/hooks/github/fromrepo"),
        ("webhook secret", secret),
    ):
        button = page.get_by_role("button", name=f"Copy the {name}")
        button.click()
        expect(button).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == text

    # Both pages fit a phone's screen.
    page.set_viewport_size({"width": 375, "height": 800})
    for url in ("/apps/fromrepo/setup", "/new"):
        page.goto(ctl.url + url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, url
        page.screenshot(path=screens / f"04-375px-{url.strip('/').replace('/', '-')}.png", full_page=True)
    # The app page links to the setup page.
    page.goto(ctl.url + "/apps/fromrepo")
    page.get_by_role("link", name="Git remotes, webhook and source repository").click()
    expect(page.get_by_role("heading", name="Set up fromrepo")).to_be_visible()


def test_an_empty_app_created_in_the_gui_deploys_by_a_push_to_the_remote_it_shows(
    flow: Flow, page: Page, tmp_path: Path
) -> None:
    screens = shots(tmp_path)
    ctl = flow.ctl
    log_in(page, ctl)
    page.goto(ctl.url + "/new")
    page.get_by_label("App name").fill("empty")
    page.get_by_label("Empty: deploy it with git push").check()
    page.get_by_role("button", name="Create app").click()
    expect(page).to_have_url(ctl.url + "/apps/empty/setup")
    remote_line = page.locator("#http-remote").inner_text().splitlines()[0]
    assert remote_line == f"git remote add dockyard {ctl.url}/git/empty.git"
    page.screenshot(path=screens / "01-empty-app-remotes.png", full_page=True)

    # The line as shown, with an API token as the password; the open page shows the build.
    repo = flow.slow_app("empty", "pushed to an empty app")
    flow.client.run(*remote_line.split()[1:], cwd=repo)
    flow.client.run("remote", "set-url", "dockyard", flow.http_remote("empty"), cwd=repo)
    with ThreadPoolExecutor(1) as pool:
        push: Future[TimedPush] = pool.submit(flow.client.timed_push, repo, "dockyard", "main")
        expect(page.locator("pre.log")).to_contain_text("flow-line-3", timeout=WAIT_MS)
        page.screenshot(path=screens / "02-first-push-build-log.png", full_page=True)
        pushed = push.result(timeout=300)
    assert pushed.returncode == 0, pushed.text
    expect(page.locator("#build-status")).to_have_text("succeeded", timeout=WAIT_MS)
    assert answered(ctl, "empty", "pushed to an empty app") == "pushed to an empty app"
    page.screenshot(path=screens / "03-first-push-done.png", full_page=True)
