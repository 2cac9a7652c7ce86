"""The web GUI with 200 apps on a local controller: server time and first-load bytes of the
dashboard, event to screen in Chromium, and the controller's memory with 5 browser sessions.

- Server time: N sequential GETs of the dashboard (`/`, 200 rows) over one keep-alive
  connection, p50 and p99, against the same number of GETs of `/api/v1/apps` (the same apps
  as JSON) measured in the same run: the ratio is what rendering the page costs over the API.
- First load: the dashboard and every script and stylesheet it links, as sent (the
  controller does not compress) and gzip-compressed (level 6, as nginx's `gzip on` would).
- Event to screen: the dashboard open in Debian's Chromium (Playwright), in the only session
  open yet (the other four open after these samples); a config change of one app queues a
  job (the state change happens before the PATCH returns); from just before the PATCH until
  that job's link is in the page (checked each animation frame), p50 and p99.
- Memory: the controller's RSS (the `dockyard serve` process, not its keeper or nginx) before
  any browser, and with 5 browser sessions that have the dashboard open (each its own login
  and event stream) after a round of events.

Logs in as a user made through the API (`POST /api/v1/session`: the cookie the GUI takes).

    .venv/bin/python -m bench.gui [N]      # 100
"""

import gzip
import re
import shutil
import statistics
import sys
import time
from urllib.parse import urljoin

import httpx
from playwright.sync_api import BrowserContext, Page, sync_playwright

from bench.common import (
    api_client,
    bench_dir,
    print_table,
    process_memory_kb,
    running_controller,
)
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

APPS = 200
SESSIONS = 5
SERVER_P99_TARGET_MS = 100.0
BYTES_TARGET_KB = 100.0
EVENT_P99_TARGET_MS = 500.0
RSS_TARGET_MB = 110.0
USER, PASSWORD = "bench-admin", "bench-admin-password-1"
ASSET_RE = re.compile(r'<(?:script[^>]+src|link[^>]+href)="([^"]+)"')


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def populate(api: httpx.Client) -> None:
    """200 apps, each with a domain and one config change (so a last deploy to show)."""
    for index in range(APPS):
        name = f"app-{index:03d}"
        api.post("/apps", json={"name": name}).raise_for_status()
        api.patch(f"/apps/{name}/config", json={"set": {"INDEX": str(index)}}).raise_for_status()
    api.post("/users", json={"name": USER, "role": "admin", "password": PASSWORD}).raise_for_status()


def login(base_url: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=60)
    client.post("/api/v1/session", json={"user": USER, "password": PASSWORD}).raise_for_status()
    page = client.get("/")
    if page.status_code != 200 or 'data-app="app-000"' not in page.text:
        raise RuntimeError(f"the session cookie does not open the dashboard: {page.status_code}")
    return client


def timed_gets(client: httpx.Client, path: str, n: int, headers: dict[str, str] | None = None) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        client.get(path, headers=headers).raise_for_status()
        times.append((time.perf_counter() - start) * 1000)
    return times


def first_load(client: httpx.Client) -> tuple[int, int, int]:
    """(files, bytes as sent, bytes gzip-compressed) of the dashboard and what it links."""
    page = client.get("/", headers={"Accept-Encoding": "gzip, br"})
    bodies = [page.content]
    sent = page.num_bytes_downloaded
    for asset in sorted(set(ASSET_RE.findall(page.text))):
        if asset.startswith(("http:", "https:", "//")):
            raise RuntimeError(f"the dashboard loads {asset} from another site")
        response = client.get(urljoin("/", asset), headers={"Accept-Encoding": "gzip, br"})
        response.raise_for_status()
        bodies.append(response.content)
        sent += response.num_bytes_downloaded
    return len(bodies), sent, sum(len(gzip.compress(body, 6)) for body in bodies)


def browser_context(browser: object, base_url: str, client: httpx.Client) -> BrowserContext:
    context: BrowserContext = browser.new_context(base_url=base_url)  # type: ignore[attr-defined]
    context.add_cookies(
        [{"name": c.name, "value": c.value or "", "url": base_url} for c in client.cookies.jar]
    )
    return context


def event_to_screen(page: Page, api: httpx.Client, n: int) -> list[float]:
    page.goto("/")
    page.wait_for_selector('tr[data-app="app-000"]')
    page.wait_for_timeout(1000)  # the event stream is open
    times = []
    for index in range(n):
        name = f"app-{(index * 7) % APPS:03d}"
        start_ms = time.time() * 1000
        deploy = api.patch(f"/apps/{name}/config", json={"set": {"ROUND": str(index)}})
        deploy.raise_for_status()
        link = f'a[href="/deploys/{deploy.json()["id"]}"]'
        shown_ms = page.wait_for_function(
            "selector => document.querySelector(selector) ? Date.now() : false",
            arg=link,
            polling="raf",
            timeout=30_000,
        ).json_value()
        times.append(float(shown_ms) - start_ms)
        page.wait_for_timeout(200)  # let the config job finish before the next change
    return times


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    with bench_dir("gui") as tmp, running_controller(tmp) as ctl:
        api = api_client(ctl)
        populate(api)
        client = login(ctl.url)
        timed_gets(client, "/", 10)  # warm-up: templates compiled, connections open
        timed_gets(api, "/apps", 10)
        page_ms = timed_gets(client, "/", n)
        api_ms = timed_gets(api, "/apps", n)
        files, sent, compressed = first_load(client)
        assert ctl.process is not None
        pid = ctl.process.pid
        rss_before = process_memory_kb([pid])[0] / 1024

        chromium = shutil.which("chromium") or CHROMIUM
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                # The other sessions open once the event samples are taken: a renderer
                # starting up takes both cores for a while, and samples taken meanwhile
                # measured the machine, not the GUI.
                first = browser_context(browser, ctl.url, login(ctl.url)).new_page()
                event_ms = event_to_screen(first, api, max(20, n // 3))
                for _ in range(SESSIONS - 1):
                    page = browser_context(browser, ctl.url, login(ctl.url)).new_page()
                    page.goto("/")
                    page.wait_for_selector('tr[data-app="app-000"]')
                for index in range(10):  # a round of events every open page refreshes on
                    api.patch("/apps/app-001/config", json={"set": {"MEM": str(index)}}).raise_for_status()
                time.sleep(3)
                rss_sessions = process_memory_kb([pid])[0] / 1024
            finally:
                browser.close()

    p50, p99 = statistics.median(page_ms), percentile(page_ms, 0.99)
    api_p50 = statistics.median(api_ms)
    print(f"GUI dashboard with {APPS} apps ({n} GETs each)")
    print_table(
        ["measure", "value", "target"],
        [
            ["dashboard p50 ms", f"{p50:.1f}", ""],
            ["dashboard p99 ms", f"{p99:.1f}", f"< {SERVER_P99_TARGET_MS:.0f}"],
            ["GET /api/v1/apps p50 ms (baseline)", f"{api_p50:.1f}", ""],
            ["dashboard / API p50 ratio", f"{p50 / api_p50:.2f}", ""],
            [f"first load: {files} files, KB as sent", f"{sent / 1024:.1f}", ""],
            ["first load KB gzip -6", f"{compressed / 1024:.1f}", f"< {BYTES_TARGET_KB:.0f}"],
            ["event to screen p50 ms", f"{statistics.median(event_ms):.0f}", ""],
            ["event to screen p99 ms", f"{percentile(event_ms, 0.99):.0f}", f"< {EVENT_P99_TARGET_MS:.0f}"],
            ["controller RSS MB, no browser", f"{rss_before:.1f}", ""],
            [f"controller RSS MB, {SESSIONS} sessions", f"{rss_sessions:.1f}", f"< {RSS_TARGET_MB:.0f}"],
        ],
    )


if __name__ == "__main__":
    main()
