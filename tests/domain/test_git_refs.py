"""Untrusted git input: ssh commands, ref updates, branch names, repository URLs."""

import pytest

from controller.domain.errors import InvalidInput
from controller.domain.git_refs import (
    ZERO_SHA,
    GitService,
    RefUpdate,
    branch_of,
    http_remote,
    parse_ref_updates,
    parse_ssh_command,
    ssh_remote,
    validate_branch_name,
    validate_repo_url,
)

SHA = "a" * 40


@pytest.mark.parametrize(
    ("command", "service", "app"),
    [
        ("git-receive-pack 'web.git'", GitService.RECEIVE_PACK, "web"),
        ("git-receive-pack '/web.git'", GitService.RECEIVE_PACK, "web"),
        ("git-upload-pack '/my-app.git'", GitService.UPLOAD_PACK, "my-app"),
        ('git-upload-pack "web.git"', GitService.UPLOAD_PACK, "web"),
        ("git-receive-pack web.git", GitService.RECEIVE_PACK, "web"),
        ("git-receive-pack /web.git", GitService.RECEIVE_PACK, "web"),
    ],
)
def test_accepted_ssh_commands(command: str, service: GitService, app: str) -> None:
    assert parse_ssh_command(command) == (service, app)


@pytest.mark.parametrize(
    "command",
    [
        None,
        "",
        "bash",
        "sh -c id",
        "git-receive-pack '../../etc.git'",
        "git-receive-pack '/var/lib/web.git'",
        "git-receive-pack 'web.git'; rm -rf /",
        "git-receive-pack 'web.git'\nbash",
        "git-receive-pack 'web.git' ",
        "git-receive-pack 'web.git\"",
        "git-receive-pack 'Web.git'",
        "git-receive-pack 'api.git'",  # a reserved app name
        "git-upload-archive 'web.git'",
        "git receive-pack 'web.git'",
        "git-receive-pack 'web'",
        "git-receive-pack  'web.git'",
        "git-receive-pack '$(id).git'",
    ],
)
def test_refused_ssh_commands(command: str | None) -> None:
    with pytest.raises(InvalidInput):
        parse_ssh_command(command)


def test_refusal_names_the_command_on_one_line() -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_ssh_command("bash\nid")
    assert "\n" not in str(raised.value) and "refused" in str(raised.value)


def test_parse_ref_updates() -> None:
    text = f"{ZERO_SHA} {SHA} refs/heads/main\n{SHA} {ZERO_SHA} refs/heads/old\n{SHA} {SHA} refs/tags/v1\n"
    updates = parse_ref_updates(text)
    assert updates[0] == RefUpdate(old=ZERO_SHA, new=SHA, ref="refs/heads/main")
    assert updates[0].branch == "main" and not updates[0].deletes
    assert updates[1].deletes
    assert updates[2].branch is None


@pytest.mark.parametrize(
    "line",
    [f"{SHA} {SHA}", f"{SHA} xyz refs/heads/main", f"{SHA} {SHA} HEAD", f"{SHA} {SHA} refs/heads/a..b"],
)
def test_malformed_ref_updates(line: str) -> None:
    with pytest.raises(InvalidInput):
        parse_ref_updates(line)


@pytest.mark.parametrize("name", ["main", "release/1.2", "feature_x", "v1+build"])
def test_valid_branches(name: str) -> None:
    assert validate_branch_name(name) == name
    assert branch_of(f"refs/heads/{name}") == name


@pytest.mark.parametrize(
    "name", ["", "-x", "a..b", "a b", "a;b", "a/", "/a", "x.lock", ".hidden", "a//b", "HEAD", "a\nb", "é"]
)
def test_invalid_branches(name: str) -> None:
    with pytest.raises(InvalidInput):
        validate_branch_name(name)


def test_repo_url_splits_off_the_token() -> None:
    parsed = validate_repo_url("https://oauth2:s3cret@gitlab.com/group/app.git", allow_local=False)
    assert parsed.url == "https://gitlab.com/group/app.git"
    assert (parsed.username, parsed.token) == ("oauth2", "s3cret")
    assert not parsed.is_ssh


@pytest.mark.parametrize("url", ["ssh://git@github.com/o/r.git", "git@github.com:o/r.git"])
def test_ssh_repo_urls(url: str) -> None:
    parsed = validate_repo_url(url, allow_local=False)
    assert parsed.is_ssh and parsed.token is None


@pytest.mark.parametrize(
    "url",
    [
        "ext::sh -c touch% /tmp/pwned",
        "fd::17",
        "-uhttps://x",
        "https://host/a b",
        "https://host/a\nb",
        "file:///srv/repo.git",
        "git://127.0.0.1/repo.git",
        "http://example.com/repo.git",
        "ftp://host/repo",
        "https:///nohost",
        "ssh://user:pw@host/repo",
    ],
)
def test_refused_repo_urls(url: str) -> None:
    with pytest.raises(InvalidInput):
        validate_repo_url(url, allow_local=False)


@pytest.mark.parametrize(
    "url", ["file:///srv/repo.git", "git://127.0.0.1:9418/repo.git", "http://127.0.0.1/x.git"]
)
def test_local_repo_urls_need_the_setting(url: str) -> None:
    assert validate_repo_url(url, allow_local=True, allow_private=True).url == url


def test_remotes() -> None:
    assert ssh_remote(user="dockyard", host="vps.example.com", port=22, app="web") == (
        "ssh://dockyard@vps.example.com/web.git"
    )
    assert ssh_remote(user="dockyard", host="h", port=2222, app="web") == "ssh://dockyard@h:2222/web.git"
    assert http_remote(base_url="https://h/", app="web") == "https://h/git/web.git"
