"""The smart-HTTP git remote: Basic auth with the API token, only the smart protocol, and
`git http-backend` (real git, on the app's bare repo) answering it."""

import base64

from tests.api.conftest import TOKEN, Bed

ADVERTISE = "/git/web.git/info/refs"


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_a_clone_gets_the_repos_refs_advertised_by_git(bed: Bed) -> None:
    bed.create_app("web")
    response = bed.client.get(ADVERTISE, params={"service": "git-upload-pack"}, headers=_basic("me", TOKEN))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-git-upload-pack-advertisement"
    assert response.content.startswith(b"001e# service=git-upload-pack\n")


def test_a_push_advertisement_is_served_too(bed: Bed) -> None:
    bed.create_app("web")
    response = bed.client.get(ADVERTISE, params={"service": "git-receive-pack"}, headers=_basic("me", TOKEN))
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"001f# service=git-receive-pack\n")


def test_without_the_token_git_is_asked_for_credentials(bed: Bed) -> None:
    bed.create_app("web")
    for headers in ({}, _basic("me", "wrong"), {"Authorization": f"Bearer {TOKEN}"}):
        response = bed.client.get(ADVERTISE, params={"service": "git-upload-pack"}, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"].startswith("Basic ")
        assert "API token" in response.text


def test_only_the_smart_protocol_is_served(bed: Bed) -> None:
    bed.create_app("web")
    auth = _basic("me", TOKEN)
    for path, params in (
        (ADVERTISE, {}),  # the dumb protocol
        (ADVERTISE, {"service": "git-archive"}),
        ("/git/web.git/HEAD", {}),
        ("/git/web/info/refs", {"service": "git-upload-pack"}),
    ):
        response = bed.client.get(path, params=params, headers=auth)
        assert response.status_code == 404, (path, params, response.text)


def test_unknown_and_invalid_apps_get_a_plain_text_reason_for_git_to_show(bed: Bed) -> None:
    auth = _basic("me", TOKEN)
    push = bed.client.get("/git/nope.git/info/refs", params={"service": "git-receive-pack"}, headers=auth)
    assert push.status_code == 404
    assert push.headers["content-type"].startswith("text/plain")
    assert "dockyard apps create nope" in push.text
    invalid = bed.client.get(
        "/git/No_Such.git/info/refs", params={"service": "git-upload-pack"}, headers=auth
    )
    assert invalid.status_code == 400 and invalid.headers["content-type"].startswith("text/plain")


def test_a_pack_over_the_upload_limit_is_a_413(bed: Bed) -> None:
    bed.create_app("web")
    limit = bed.settings.max_upload_mb * 1024 * 1024
    response = bed.client.post(
        "/git/web.git/git-receive-pack",
        content=b"\0" * (limit + 1),
        headers={**_basic("me", TOKEN), "Content-Type": "application/x-git-receive-pack-request"},
    )
    assert response.status_code == 413
