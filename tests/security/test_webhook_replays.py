"""A signed webhook body replayed with a new delivery id must not deploy again (issue 14.6): not the
commit the app runs, not one older than the branch head last seen from that provider, unless the
provider marks it as a force push from that head. Services on a real SQLite store, fake git.
"""

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from controller.domain.errors import Conflict
from controller.domain.models import Release
from controller.services.webhooks import WebhookAnswer
from tests.services.test_git_services import A, B, C, World, with_source, world  # noqa: F401 - the fixture


def push(
    env: World, commit: str, *, delivery: str, before: str | None = None, forced: bool = False
) -> WebhookAnswer:
    payload: dict[str, Any] = {"ref": "refs/heads/main", "after": commit, "forced": forced}
    if before is not None:
        payload["before"] = before
    body = json.dumps(payload).encode()
    secret = env.sources.source("web").webhook_secret
    headers = {
        "x-github-event": "push",
        "x-github-delivery": delivery,
        "x-hub-signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }
    return env.webhooks.receive("github", "web", headers, body)


def jobs(env: World) -> list[str]:
    return [commit for _, commit, _ in env.deploys.builds]


def test_an_older_commit_replayed_with_a_new_id_is_refused(world: World) -> None:  # noqa: F811
    with_source(world)
    world.mirrors.history = [A, B, C]
    for number, (commit, before) in enumerate([(A, None), (B, A), (C, B)]):
        assert push(world, commit, delivery=str(number), before=before).body["status"] == "queued"
    for number, old in enumerate([A, B]):
        with pytest.raises(Conflict, match="older than"):
            push(world, old, delivery=f"replay-{number}", before=A)
    assert jobs(world) == [A, B, C]
    assert [d.delivery_id for d in world.store.list_webhook_deliveries("web")] == ["2", "1", "0"]


def test_a_body_replayed_to_another_providers_endpoint_is_refused_too(world: World) -> None:  # noqa: F811
    """GitHub's and Gitea's signatures are the same HMAC of the same body with the same secret."""
    with_source(world)
    world.mirrors.history = [A, B]
    push(world, A, delivery="1")
    push(world, B, delivery="2", before=A)
    body = json.dumps({"ref": "refs/heads/main", "after": A}).encode()
    mac = hmac.new(world.sources.source("web").webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"x-gitea-event": "push", "x-gitea-delivery": "g1", "x-gitea-signature": mac}
    with pytest.raises(Conflict, match="older than"):
        world.webhooks.receive("gitea", "web", headers, body)
    assert jobs(world) == [A, B]


def test_the_commit_the_app_runs_is_not_deployed_again(world: World) -> None:  # noqa: F811
    with_source(world)
    world.mirrors.history = [A, B]
    deploy_id = push(world, B, delivery="1", before=A).body["deploy"]
    built = Release("web", 1, "sha256:img", "digest", {}, 5000, (), datetime.now(UTC), deploy_id)
    world.store.add_release(built)
    config_change = Release("web", 2, "sha256:img", "digest", {"X": "1"}, 5000, (), datetime.now(UTC), "cfg")
    world.store.add_release(config_change)  # a config release reuses the built image
    world.store.set_current_release("web", 2)
    with pytest.raises(Conflict, match="already runs"):
        push(world, B, delivery="2", before=A)
    assert jobs(world) == [B]


def test_a_real_force_push_from_the_head_deploys_and_a_replayed_one_does_not(world: World) -> None:  # noqa: F811
    with_source(world)
    world.mirrors.history = [A, B, C]
    push(world, C, delivery="1", before=B)
    # A force push back to A from the head C (what the provider reports for `git push -f`).
    assert push(world, A, delivery="2", before=C, forced=True).body["status"] == "queued"
    push(world, B, delivery="3", before=A, forced=True)  # and forward again (from A, the head now)
    # Replaying delivery 2's body (head C then, B now) with a new id: before is no longer the head.
    with pytest.raises(Conflict, match="older than"):
        push(world, A, delivery="2-again", before=C, forced=True)
    assert jobs(world) == [C, A, B]


def test_a_commit_the_mirror_has_not_seen_is_a_fast_forward(world: World) -> None:  # noqa: F811
    """Unknown ancestry (not fetched yet) is not a replay: replayed commits were fetched to deploy."""
    with_source(world)
    world.mirrors.history = []
    push(world, B, delivery="1")
    assert push(world, C, delivery="2").body["status"] == "queued"
    assert jobs(world) == [B, C]
