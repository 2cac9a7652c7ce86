"""Public keys users add, and the forced-command lines written for them."""

import subprocess
from pathlib import Path

import pytest

from controller.domain.errors import InvalidInput
from controller.domain.ssh_keys import (
    authorized_keys_line,
    merge_authorized_keys,
    parse_public_key,
    validate_key_name,
)


@pytest.fixture(scope="module")
def public_key(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real ed25519 key made by ssh-keygen."""
    path = tmp_path_factory.mktemp("keys") / "id"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me@laptop", "-f", str(path)], check=True
    )
    return Path(f"{path}.pub").read_text()


def test_parse_matches_ssh_keygen_fingerprint(public_key: str, tmp_path: Path) -> None:
    parsed = parse_public_key(public_key)
    (tmp_path / "k.pub").write_text(public_key)
    listed = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(tmp_path / "k.pub")], capture_output=True, text=True
    ).stdout
    assert parsed.key_type == "ssh-ed25519"
    assert parsed.fingerprint in listed


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        'command="sh" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE',
        "ssh-ed25519 not-base64!",
        "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOv2",  # the blob says ed25519
        "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----",
    ],
)
def test_refused_keys(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_public_key(text)


def test_two_keys_are_refused(public_key: str) -> None:
    with pytest.raises(InvalidInput):
        parse_public_key(public_key + public_key)


@pytest.mark.parametrize("name", ["", "a b", "x;y", "-x", "a" * 65, 'q"uote', "new\nline"])
def test_refused_key_names(name: str) -> None:
    with pytest.raises(InvalidInput):
        validate_key_name(name)


def test_authorized_keys_line(public_key: str) -> None:
    parsed = parse_public_key(public_key)
    line = authorized_keys_line(
        executable="/opt/dockyard/bin/dockyard",
        data_dir="/var/lib/dockyard",
        name="laptop",
        key_type=parsed.key_type,
        key_data=parsed.key_data,
    )
    assert line == (
        'command="/opt/dockyard/bin/dockyard git-shell --data-dir /var/lib/dockyard laptop",restrict '
        f"ssh-ed25519 {parsed.key_data} laptop"
    )


@pytest.mark.parametrize("path", ['/opt/a"b', "/opt/a b", "relative/dockyard", "/opt/$(id)"])
def test_unsafe_paths_never_reach_authorized_keys(path: str) -> None:
    with pytest.raises(InvalidInput):
        authorized_keys_line(
            executable=path, data_dir="/d", name="k", key_type="ssh-ed25519", key_data="AAAA"
        )


OWN = (
    'command="/opt/d/bin/dockyard git-shell --data-dir /var/lib/dockyard laptop",restrict '
    "ssh-ed25519 AAAA laptop"
)
OTHER = (
    'command="/opt/d/bin/dockyard git-shell --data-dir /srv/staging ci",restrict ssh-ed25519 BBBB ci '
    "dockyard-instance=0badcafe"
)
BY_HAND = "ssh-ed25519 CCCC admin@laptop"


def test_merge_keeps_other_controllers_and_hand_written_lines() -> None:
    existing = f"# my keys\n{BY_HAND}\n{OTHER}\n{OWN} dockyard-instance=12345678\n"
    merged = merge_authorized_keys(existing, instance="12345678", data_dir="/var/lib/dockyard", own=[])
    assert merged == f"# my keys\n{BY_HAND}\n{OTHER}\n"

    again = merge_authorized_keys(merged, instance="12345678", data_dir="/var/lib/dockyard", own=[OWN])
    assert again == f"# my keys\n{BY_HAND}\n{OTHER}\n{OWN} dockyard-instance=12345678\n"
    assert merge_authorized_keys(again, instance="12345678", data_dir="/var/lib/dockyard", own=[OWN]) == again


def test_merge_takes_over_the_unmarked_lines_of_an_older_version_of_itself() -> None:
    legacy = f"# Managed by Dockyard (`dockyard keys`): edits here are overwritten.\n{OWN}\n{BY_HAND}\n"
    merged = merge_authorized_keys(legacy, instance="12345678", data_dir="/var/lib/dockyard", own=[])
    assert merged == f"{BY_HAND}\n"
    # Another data dir's unmarked lines are not this controller's.
    assert merge_authorized_keys(legacy, instance="12345678", data_dir="/srv/other", own=[]) == (
        f"{OWN}\n{BY_HAND}\n"
    )
