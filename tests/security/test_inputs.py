"""Hostile inputs that used to end in HTTP 500 (issue 14.9) and source repository URLs that must not
reach loopback, link-local or private addresses (issue 14.10), checked without a controller.
"""

import io
import ipaddress
import socket
import tarfile
from pathlib import Path

import pytest
from pydantic import ValidationError

from controller.adapters.archive import extract_archive
from controller.adapters.git_repos import SourceMirrors
from controller.api.schemas import RollbackRequest
from controller.domain.errors import InvalidInput
from controller.domain.git_refs import (
    SourceUnavailable,
    check_source_address,
    validate_repo_url,
)
from controller.services.git_ports import FetchAuth


def tar_with(name: str, *, linkname: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = 11
        tar.addfile(info, io.BytesIO(b"FROM scratc"))
        member = tarfile.TarInfo(name)
        if linkname is not None:
            member.type = tarfile.SYMTYPE
            member.linkname = linkname
            tar.addfile(member)
        else:
            member.size = 1
            tar.addfile(member, io.BytesIO(b"x"))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "linkname"),
    [
        ("a" * 256, None),
        ("d/" + "b" * 300 + "/f", None),
        ("/".join(["c" * 200] * 20), None),
        ("link", "x" * 256),
    ],
)
def test_names_the_filesystem_cannot_hold_are_refused(
    tmp_path: Path, name: str, linkname: str | None
) -> None:
    dest = tmp_path / "ctx"
    with pytest.raises(InvalidInput, match="longer than"):
        extract_archive(tar_with(name, linkname=linkname), dest, max_bytes=10**6)
    assert not dest.exists()


def test_a_name_of_255_bytes_is_fine(tmp_path: Path) -> None:
    extract_archive(tar_with("n" * 255), tmp_path / "ctx", max_bytes=10**6)
    assert (tmp_path / "ctx" / ("n" * 255)).read_text() == "x"


@pytest.mark.parametrize("to", [1e20, 2**63, -1, 0])
def test_rollback_targets_outside_any_release_number_are_refused(to: float) -> None:
    with pytest.raises(ValidationError):
        RollbackRequest.model_validate({"to": to})


@pytest.mark.parametrize(
    "url",
    [
        "ssh://host:abc/x",
        "ssh://host:99999/x",
        "https://host:0/x",
        "https://host:-1/x",
        "https://[::1/x",
        "https://-oProxyCommand=id/x",
        "ssh://-oProxyCommand=id/x",
        "-oProxyCommand=id@host:x",
        "git@-oProxyCommand=id:x",
        "https://127.0.0.1/x.git",
        "https://127.1.2.3/x.git",
        "https://localhost/x.git",
        "https://api.localhost/x.git",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.1/x.git",
        "https://172.16.3.4/x.git",
        "https://192.168.1.1/x.git",
        "https://100.64.0.1/x.git",
        "https://0.0.0.0/x.git",
        "https://[::1]/x.git",
        "https://[fe80::1]/x.git",
        "https://[fc00::1]/x.git",
        "https://[::ffff:127.0.0.1]/x.git",
        "ssh://git@10.1.1.1/x.git",
        "git@192.168.0.10:o/r.git",
    ],
)
def test_refused_source_urls(url: str) -> None:
    with pytest.raises(InvalidInput):
        validate_repo_url(url, allow_local=False)


@pytest.mark.parametrize(
    ("url", "clean"),
    [
        ("https://[2001:4860:4860::8888]:8443/o/r.git", "https://[2001:4860:4860::8888]:8443/o/r.git"),
        ("https://tok:s3cret@[2001:db9::1]/o/r.git", "https://[2001:db9::1]/o/r.git"),
        ("ssh://git@github.com:2222/o/r.git", "ssh://git@github.com:2222/o/r.git"),
        ("https://8.8.8.8/o/r.git", "https://8.8.8.8/o/r.git"),
    ],
)
def test_public_sources_and_ipv6_literals(url: str, clean: str) -> None:
    assert validate_repo_url(url, allow_local=False).url == clean


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1:8443/x.git", "ssh://git@[::1]:2222/x.git", "https://10.0.0.1/x.git"]
)
def test_private_sources_need_the_setting(url: str) -> None:
    assert validate_repo_url(url, allow_local=False, allow_private=True).url == url


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "169.254.169.254", "fe80::1%eth0", "10.9.8.7"])
def test_resolved_addresses_are_checked(address: str) -> None:
    with pytest.raises(InvalidInput):
        check_source_address(address, allow_private=False)
    assert check_source_address(address, allow_private=True) == address


def test_a_name_that_resolves_to_loopback_is_refused_at_fetch_time(tmp_path: Path) -> None:
    """This machine's own name passes as a name when the source is set; the fetch resolves it
    (to loopback or a private address) and refuses before git connects anywhere."""
    host = socket.gethostname()
    addresses = {info[4][0] for info in socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)}
    if any(ipaddress.ip_address(a).is_global for a in addresses):
        pytest.skip(f"{host} resolves to a public address here: {addresses}")
    mirrors = SourceMirrors(tmp_path, allowed_protocols=["https", "ssh"], allow_private=False)
    url = validate_repo_url(f"https://{host}/o/r.git", allow_local=False).url
    with pytest.raises(SourceUnavailable, match="not public"):
        mirrors.fetch("web", url=url, branch="main", commit="a" * 40, auth=FetchAuth())
