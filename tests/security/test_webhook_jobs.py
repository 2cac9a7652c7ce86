"""Webhooks end to end on a real controller, git and Docker: every accepted delivery is a job that
ends in `deploys list/show` and on the event stream, also when its commit cannot be fetched (issue
13.4); a captured body replayed with a new delivery id does not roll the app back (issue 14.6).
"""

import json
import time
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import TOKEN
from tests.e2e.test_webhooks import HookEnv, hook_env  # noqa: F401 - the fixture
from tests.e2e.webhook_deliveries import encode, push_payload, signed_headers

pytestmark = pytest.mark.integration
MISSING = "f" * 40


def deliver(env: HookEnv, app: str, commit: str, *, delivery: str, **extra: Any) -> httpx.Response:
    payload = {**push_payload("github", branch="main", commit=commit, clone_url="x"), **extra}
    body = encode("github", payload)
    headers = signed_headers("github", body, secret=env.secret(app))
    headers["X-GitHub-Delivery"] = delivery
    return env.post("github", app, body, headers)


def test_a_delivery_whose_commit_cannot_be_fetched_is_a_failed_job(hook_env: HookEnv) -> None:  # noqa: F811
    ctl = hook_env.ctl
    app = "wh-unfetchable"
    ctl.cli("apps", "create", app)
    ctl.cli("apps", "source", app, "--repo", hook_env.upstream.git_url)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.stream("GET", f"{ctl.url}/api/v1/events", headers=headers, timeout=120) as events:
        answer = deliver(hook_env, app, MISSING, delivery="gone-1")
        assert answer.status_code == 202 and answer.json()["status"] == "queued", answer.text
        deploy_id = answer.json()["deploy"]
        states: list[str] = []
        deadline = time.monotonic() + 120
        for line in events.iter_lines():
            if line.startswith("data:"):
                event = json.loads(line[5:])
                if event["type"] == "deploy" and event["id"] == deploy_id:
                    states.append(event["status"])
                    if event["status"] not in ("queued", "running"):
                        break
            assert time.monotonic() < deadline, states
    assert states == ["queued", "running", "failed"], states
    listed = json.loads(ctl.cli("deploys", "list", app, "--json").stdout)
    assert [(d["id"], d["status"]) for d in listed] == [(deploy_id, "failed")]
    assert MISSING[:12] in listed[0]["description"]
    assert "cannot fetch" in listed[0]["error"] or "has no commit" in listed[0]["error"]
    assert "\n" not in listed[0]["error"]
    shown = ctl.cli("deploys", "show", deploy_id).stdout
    assert f"Fetching {MISSING[:12]}" in shown and "failed" in shown
    (delivery,) = json.loads(ctl.cli("apps", "info", app, "--json").stdout)["git"]["deliveries"]
    assert (delivery["status"], delivery["deploy_id"]) == ("failed", deploy_id)


def test_a_delivered_push_shows_its_jobs_outcome_and_a_replay_does_not_roll_back(
    hook_env: HookEnv,  # noqa: F811
) -> None:
    ctl = hook_env.ctl
    app = "wh-replay"
    first, second = hook_env.upstream.first, hook_env.upstream.second
    ctl.cli("apps", "create", app)
    ctl.cli("apps", "source", app, "--repo", hook_env.upstream.git_url)
    assert deliver(hook_env, app, first, delivery="p1").status_code == 202
    assert hook_env.wait_deployed(app, first)["status"] == "succeeded"
    assert deliver(hook_env, app, second, delivery="p2", before=first).status_code == 202
    assert hook_env.wait_deployed(app, second)["status"] == "succeeded"
    assert ctl.get_app(app).text.strip() == "wh-second"
    deliveries = json.loads(ctl.cli("apps", "info", app, "--json").stdout)["git"]["deliveries"]
    assert [d["status"] for d in deliveries] == ["succeeded", "succeeded"]  # not "queued" for ever
    before = hook_env.state(app)

    # The body of delivery p1, replayed with new delivery ids: older than the head, or deployed.
    for delivery, commit in (("p1-again", first), ("p2-again", second)):
        replay = deliver(hook_env, app, commit, delivery=delivery)
        assert replay.status_code == 409, replay.text
    assert hook_env.state(app) == before
    assert ctl.get_app(app).text.strip() == "wh-second"

    # A force push back to the first commit, from the head: the provider says so, it deploys.
    forced = deliver(hook_env, app, first, delivery="p3", before=second, forced=True)
    assert forced.status_code == 202, forced.text
    assert hook_env.wait_deployed(app, first)["status"] == "succeeded"
    assert ctl.get_app(app).text.strip() == "wh-first"
